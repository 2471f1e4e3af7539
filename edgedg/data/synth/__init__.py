"""Procedural driving domains: street layouts labelled with the 19 Cityscapes trainIds, painted
in several domain styles whose low-level image statistics differ a lot while the layout does not.

    rgb, label = render_scene(seed, (256, 512), "night")
    synthesize(Path("synth"), ["sunny", "fog"], per_domain=20, size=(256, 512),
               fmt="cityscapes", seed=0)

This package imports OpenCV; import it only where images are made.
"""

from __future__ import annotations

from edgedg.data.synth.generate import (
    layout_seed,
    parse_size,
    resolve_domains,
    synthesize,
    video_seed,
)
from edgedg.data.synth.render import paint_layout, render_scene
from edgedg.data.synth.scene import Layout, render_layout
from edgedg.data.synth.styles import DOMAINS, DomainStyle, create_domain
from edgedg.data.synth.video import video_layouts, write_videos

__all__ = [
    "DOMAINS",
    "DomainStyle",
    "Layout",
    "create_domain",
    "layout_seed",
    "paint_layout",
    "parse_size",
    "render_layout",
    "render_scene",
    "resolve_domains",
    "synthesize",
    "video_layouts",
    "video_seed",
    "write_videos",
]
