"""`edgedg demo`."""

from __future__ import annotations

import click

from edgedg_runtime.cli_types import NON_NEGATIVE, POSITIVE


@click.command("demo", short_help="The whole pipeline on the built-in synthetic domains.")
@click.option(
    "--out",
    default="demo-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Output folder (a previous demo's folder is reused).",
)
@click.option("--quick", is_flag=True, help="A smoke run in well under 2 minutes (near chance).")
@click.option("--iters", type=POSITIVE, default=None, help="Training iterations per method.")
@click.option("--seed", type=NON_NEGATIVE, default=None, help="Scene and training seed.")
def cli(out: str, quick: bool, iters: int | None, seed: int | None) -> None:
    """The whole pipeline on built-in synthetic domains: train AGG and MLDG on sunny, overcast and
    cartoon streets, export, and stream an unseen night video through ONNX Runtime in source,
    target and sib modes. Writes an overlay video, a side-by-side PNG, report.json, summary.md."""
    import dataclasses

    from edgedg.demo import DemoConfig, run_demo

    cfg = DemoConfig.quick(out) if quick else DemoConfig(out)
    changes = {"iters": iters, "seed": seed}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})
    run_demo(cfg, log=click.echo)
