"""What board this is: Jetson model and L4T release mapped to JetPack (no heavy imports).

Used by `edgedg doctor` (and `edgedg-runtime doctor`) and by the engine cache key (an engine is
tied to the device and release).
"""

from __future__ import annotations

import re
from pathlib import Path

# L4T (major, minor) -> JetPack, from NVIDIA's JetPack release tables (the Jetson guide's table).
_L4T_TO_JETPACK = (
    ((35, None), "5.1.x"),
    ((36, 3), "6.0"),
    ((36, 4), "6.1 / 6.2"),
    ((38, None), "7.0 / 7.1"),
    ((39, None), "7.2"),
)


def jetson_model(root: str = "/") -> str | None:
    """The board name from the device tree (e.g. 'NVIDIA Jetson AGX Orin'), or None off a Jetson."""
    path = Path(root, "proc/device-tree/model")
    try:
        text = path.read_bytes().decode("utf-8", "replace").strip("\x00\n ")
    except OSError:
        return None
    return text if "jetson" in text.lower() or "nvidia" in text.lower() else None


def l4t_release(root: str = "/") -> tuple[int, int] | None:
    """(major, minor) of the L4T release from /etc/nv_tegra_release, e.g. (36, 4), or None."""
    try:
        text = Path(root, "etc/nv_tegra_release").read_text()
    except OSError:
        return None
    # "# R36 (release), REVISION: 4.3, GCID: ..."
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def jetpack_for(l4t: tuple[int, int]) -> str | None:
    """The JetPack version line for an L4T release, or None when unknown."""
    for (major, minor), jetpack in _L4T_TO_JETPACK:
        if l4t[0] == major and (minor is None or l4t[1] == minor):
            return jetpack
    return None
