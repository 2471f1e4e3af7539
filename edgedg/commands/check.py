"""`edgedg check MODEL_DIR [CHECKPOINT] [--trt VERSION|all]`."""

from __future__ import annotations

import click

from edgedg_runtime.cli_types import NON_NEGATIVE
from edgedg_runtime.errors import EdgeDGError
from edgedg_runtime.names import PRECISIONS

TRT_CHOICES = ("8.5", "8.6", "10.3", "10", "11", "all")


@click.command("check", short_help="Check exported graphs against the PyTorch reference.")
@click.argument("model_dir", type=click.Path(file_okay=False))
@click.argument("checkpoint", type=click.Path(dir_okay=False), required=False)
@click.option(
    "--seed",
    type=NON_NEGATIVE,
    default=0,
    show_default=True,
    help="Seed of the synthetic test images.",
)
@click.option(
    "--trt",
    "trt_versions",
    type=click.Choice(TRT_CHOICES),
    multiple=True,
    help="Check the graphs against this TensorRT version's ONNX parser (repeatable; no "
    "TensorRT needed).",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="fp32",
    show_default=True,
    help="With CHECKPOINT: compare this variant of the graphs; fp16 / int8 report their "
    "agreement with the FP32 reference per mode instead of failing on FP32 tolerances.",
)
def cli(
    model_dir: str, checkpoint: str | None, seed: int, trt_versions: tuple, precision: str
) -> None:
    """With CHECKPOINT: run the exported graphs in ONNX Runtime (CPU) against PyTorch in every
    norm mode; fails (exit 1) when logits differ by more than 1e-4 or labels agree on less than
    99.9% of the pixels. With --trt: check every graph against each TensorRT version's parser
    (opset, operators and their restrictions, Cast types, I/O types); fails on any finding."""
    if not checkpoint and not trt_versions:
        raise EdgeDGError("give a CHECKPOINT (parity with PyTorch), --trt VERSION|all, or both")
    if trt_versions:
        from edgedg_export.trt_check import format_rows, trt_rows, versions_for

        rows = trt_rows(model_dir, versions_for(trt_versions))
        click.echo(format_rows(rows))
        failed = [r for r in rows if not r.ok]
        if failed:
            raise EdgeDGError(f"{len(failed)} of {len(rows)} graph/version checks fail (above)")
        names = ", ".join(versions_for(trt_versions))
        click.echo(f"{model_dir}: every graph parses on TensorRT {names}")
    if checkpoint:
        from edgedg_export.parity import format_agreement, format_table, parity_rows

        rows = parity_rows(model_dir, checkpoint, seed=seed, precision=precision)
        if precision != "fp32":
            click.echo(format_agreement(rows, precision))
            return
        click.echo(format_table(rows))
        click.echo(f"{model_dir}: all {len(rows)} comparisons within tolerance")
