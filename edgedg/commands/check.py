"""`edgedg check MODEL_DIR CHECKPOINT`."""

from __future__ import annotations

import click


@click.command("check")
@click.argument("model_dir", type=click.Path(file_okay=False))
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--seed", default=0, show_default=True, help="Seed of the synthetic test images.")
def cli(model_dir: str, checkpoint: str, seed: int) -> None:
    """Run the exported graphs in ONNX Runtime (CPU) against PyTorch in every norm mode.

    Fails (exit 1) when logits differ by more than 1e-4 or labels agree on less than 99.9% of
    the pixels."""
    from edgedg_export.parity import check_model_dir, format_table

    rows = check_model_dir(model_dir, checkpoint, seed=seed)
    click.echo(format_table(rows))
    click.echo(f"{model_dir}: all {len(rows)} comparisons within tolerance")
