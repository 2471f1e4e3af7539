"""`edgedg bench-train`."""

from __future__ import annotations

import click

from edgedg_runtime.cli_types import NON_NEGATIVE, POSITIVE


@click.command("bench-train", short_help="Training step time: AGG vs MLDG.")
@click.option("--backbones", default="resnet18,resnet50", show_default=True)
@click.option("--size", type=POSITIVE, default=256, show_default=True)
@click.option("--batch-per-domain", type=POSITIVE, default=2, show_default=True)
@click.option("--domains", type=POSITIVE, default=3, show_default=True)
@click.option("--iters", type=POSITIVE, default=5, show_default=True, help="Timed steps per mode.")
@click.option("--warmup", type=NON_NEGATIVE, default=2, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto|cpu|cuda")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
def cli(backbones, size, batch_per_domain, domains, iters, warmup, device, json_path) -> None:
    """Median training step time of AGG, MLDG order 1 and order 2, and their ratios to AGG."""
    from edgedg.train.bench import bench_train, format_table

    rows = bench_train(
        [b for b in backbones.split(",") if b], size, batch_per_domain, domains, iters, warmup,
        device,
    )  # fmt: skip
    click.echo(format_table(rows))
    if json_path:
        from edgedg_runtime.fileio import write_json

        write_json(json_path, rows)
