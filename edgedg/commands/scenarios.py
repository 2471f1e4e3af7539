"""`edgedg scenarios CKPT --target FORMAT:PATH ...`."""

from __future__ import annotations

import click

from edgedg.evaluate.modes import SEEDS
from edgedg_runtime.cli_types import POSITIVE


@click.command(
    "scenarios",
    short_help="Which norm mode when: degenerate frames, scene cuts, small inputs, restarts.",
)
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option(
    "--target", "targets", multiple=True, required=True, help="FORMAT:PATH (repeat; 2 for cuts)."
)
@click.option(
    "--size",
    type=click.IntRange(min=8),
    default=64,
    show_default=True,
    help="Model input (central square crop).",
)
@click.option(
    "--small",
    type=click.IntRange(min=8),
    default=32,
    show_default=True,
    help="Side of the small-input scenario.",
)
@click.option(
    "--runs",
    type=click.IntRange(1, len(SEEDS)),
    default=5,
    show_default=True,
    help="Stream seeds per scenario.",
)
@click.option(
    "--m", "m", type=POSITIVE, default=4, show_default=True, help="Batch size M of the bank."
)
@click.option("--split", default="val", show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write JSON here.")
def cli(checkpoint, targets, size, small, runs, m, split, json_path) -> None:
    """Which norm mode when: source, target (per-frame TN) and sib on degenerate frames, scene
    cuts, small inputs and restarts with a persisted bank (mIoU % over the scored frames)."""
    from edgedg.checkpoint import load_model
    from edgedg.data import open_dataset
    from edgedg.evaluate.report import write_json
    from edgedg.evaluate.scenarios import ScenarioConfig, format_scenarios, run_scenarios

    model, meta = load_model(checkpoint)
    datasets = {}
    for spec in targets:
        ds = open_dataset(spec, split)
        datasets[ds.domain if ds.domain not in datasets else f"{ds.domain}-{len(datasets)}"] = ds
    cfg = ScenarioConfig(size=size, small=small, runs=runs, m=m)
    report = run_scenarios(model, meta, datasets, cfg)
    click.echo(f"{checkpoint} on {', '.join(datasets)}; mIoU % over the scored frames")
    click.echo(format_scenarios(report))
    if json_path:
        write_json(json_path, report)
        click.echo(f"wrote {json_path}")
