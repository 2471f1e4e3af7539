"""`edgedg ablation`."""

from __future__ import annotations

import click

from edgedg.evaluate.modes import SEEDS
from edgedg_runtime.cli_types import NON_NEGATIVE, POSITIVE


@click.command("ablation", short_help="The paper's ablation on synthetic domains.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--quick", is_flag=True, help="A smoke run in under 2 minutes (numbers meaningless).")
@click.option("--backbone", default="tiny", show_default=True, help="tiny or resnet18.")
@click.option("--iters", type=POSITIVE, default=None, help="Training iterations per method.")
@click.option(
    "--runs", type=click.IntRange(1, len(SEEDS)), default=None, help="Stream orders per bank mode."
)
@click.option(
    "--checkpoint",
    type=click.Choice(["best", "last"]),
    default=None,
    help="Evaluate the source-validation choice (best, default) or the final weights.",
)
@click.option("--seed", type=NON_NEGATIVE, default=None, help="Data and training seed (default 0).")
def cli(
    out: str,
    quick: bool,
    backbone: str,
    iters: int | None,
    runs: int | None,
    checkpoint: str | None,
    seed: int | None,
) -> None:
    """The paper's Tables 3 and 5 on synthetic domains: AGG/MLDG x source/TN/SIB/QIB/SIB-exact.

    Sources sunny, overcast, cartoon; held-out targets night and fog (other scenes), each alone
    and mixed into one stream."""
    import dataclasses

    from edgedg.evaluate.ablation import AblationConfig, format_markdown, run_ablation

    cfg = AblationConfig.quick(out) if quick else AblationConfig(out)
    changes = {"backbone": backbone, "iters": iters, "checkpoint": checkpoint, "seed": seed}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})
    if runs is not None:
        cfg = dataclasses.replace(cfg, evaluation=dataclasses.replace(cfg.evaluation, runs=runs))
    report = run_ablation(cfg, log=click.echo)
    click.echo(format_markdown(report))
    click.echo(f"wrote {out}/ablation.json and {out}/ablation.md ({report['seconds']} s)")
