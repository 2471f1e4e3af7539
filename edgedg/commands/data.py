"""`edgedg data synth`: procedural driving domains written in the real datasets' formats."""

from __future__ import annotations

from pathlib import Path

import click

from edgedg_runtime.cli_types import NON_NEGATIVE, POSITIVE, FiniteFloat

FORMATS = ("cityscapes", "gta5", "synthia", "idd", "mapillary")


def _size(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    from edgedg.data.synth import parse_size
    from edgedg_runtime.errors import DataError

    try:
        return parse_size(value)
    except DataError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group("data", short_help="Generate synthetic domains in the real datasets' formats.")
def cli() -> None:
    """Generate datasets."""


@cli.command("synth")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--domains",
    default="all",
    show_default=True,
    help="Comma-separated domain names, or 'all' (sunny, overcast, night, fog, ...).",
)
@click.option(
    "--per-domain", default=20, show_default=True, type=POSITIVE, help="Scenes per domain."
)
@click.option(
    "--size", default="256x512", show_default=True, callback=_size, help="Image size HxW."
)
@click.option(
    "--format",
    "fmt",
    default="cityscapes",
    show_default=True,
    type=click.Choice(FORMATS),
    help="On-disk dataset format of every domain.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=NON_NEGATIVE,
    help="Scene seed: the same scenes in every domain and format.",
)
@click.option(
    "--val-fraction",
    default=0.25,
    show_default=True,
    type=FiniteFloat(0, 1, max_open=True),
    help="Fraction of the scenes written to the val split.",
)
@click.option("--video", is_flag=True, help="Also write OUT/video/<domain>.mp4 + frames + labels.")
@click.option("--video-frames", default=120, show_default=True, type=POSITIVE)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def synth(out: Path, domains: str, per_domain: int, size: tuple[int, int], fmt: str, seed: int,
          val_fraction: float, video: bool, video_frames: int, quiet: bool) -> None:  # fmt: skip
    """Write OUT/<domain>/ for every domain: a complete dataset (train + val) in --format."""
    from edgedg.data.synth import resolve_domains, synthesize

    summary = synthesize(out, resolve_domains(domains), per_domain, size, fmt, seed,
                         val_fraction, video, video_frames, progress=not quiet)  # fmt: skip
    for name, info in summary["domains"].items():
        click.echo(f"{name}: {info['train']} train + {info['val']} val -> {info['root']}")
    click.echo(f"{summary['images']} images in {summary['seconds']:.1f} s "
               f"({summary['images_per_s']:.1f} images/s, all stages)")  # fmt: skip
    for name, info in summary.get("videos", {}).items():
        click.echo(f"video {name}: {info['count']} frames -> {info['mp4']}")
