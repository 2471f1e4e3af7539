"""`edgedg eval`."""

from __future__ import annotations

import click

from edgedg.evaluate.modes import EVAL_MODES, SEEDS
from edgedg_runtime.cli_types import POSITIVE, FiniteFloat
from edgedg_runtime.names import PRECISIONS


@click.command("eval", short_help="Evaluate a checkpoint or a model directory on target domains.")
@click.argument("checkpoint", type=click.Path())
@click.option("--target", "targets", multiple=True, required=True, help="FORMAT:PATH (repeat).")
@click.option(
    "--norm",
    "modes",
    multiple=True,
    type=click.Choice(EVAL_MODES),
    default=("target",),
    show_default=True,
    help="Norm mode; repeat for several. tn-batch: the paper's TN baseline, statistics of "
    "batches of --m shuffled test images.",
)
@click.option(
    "--runs",
    type=click.IntRange(1, len(SEEDS)),
    default=5,
    show_default=True,
    help="Stream orders (seeds) per bank mode.",
)
@click.option(
    "--m", "m", type=POSITIVE, default=4, show_default=True, help="Batch size M: k = M - 1."
)
@click.option("--bank-size", type=POSITIVE, default=128, show_default=True, help="Bank capacity Q.")
@click.option(
    "--source-weight",
    type=FiniteFloat(min=0),
    default=0.0,
    show_default=True,
    help="Source prior pseudo-frames.",
)
@click.option(
    "--protocol",
    type=click.Choice(("paper", "full")),
    default="paper",
    show_default=True,
    help="paper: central square crop of side --size; full: whole image, full-res labels.",
)
@click.option(
    "--size", type=click.IntRange(min=8), default=768, show_default=True, help="Crop or long side."
)
@click.option("--split", default="val", show_default=True)
@click.option("--limit", type=POSITIVE, default=None, help="At most this many images per target.")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="JSON report path.")
@click.option(
    "--save-pred",
    type=click.Path(file_okay=False),
    default=None,
    help="Write Cityscapes labelId PNGs and overlays (first run of each mode).",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="fp32",
    show_default=True,
    help="Model directory only: which of its graphs (variants) ONNX Runtime runs.",
)
@click.option("--chart", type=click.Path(dir_okay=False), default=None, help="Per-class IoU PNG.")
def cli(
    checkpoint,
    targets,
    modes,
    runs,
    m,
    bank_size,
    source_weight,
    protocol,
    size,
    split,
    limit,
    report,
    save_pred,
    precision,
    chart,
) -> None:
    """Evaluate CHECKPOINT (or an exported MODEL_DIR, on ONNX Runtime at its input size) on target
    domains mixed into one stream, in each norm mode."""
    import os

    from edgedg.evaluate import report as out
    from edgedg.evaluate.runner import EvalConfig, evaluate_checkpoint
    from edgedg_runtime.errors import EdgeDGError
    from edgedg_runtime.stream import check_distinct

    try:  # an output that is the checkpoint (or another output) would overwrite it
        check_distinct({"CHECKPOINT": checkpoint}, {"--report": report, "--chart": chart})
    except EdgeDGError as exc:
        raise click.BadParameter(str(exc)) from None

    cfg = EvalConfig(
        modes=tuple(dict.fromkeys(modes)),
        runs=runs,
        m=m,
        bank_size=bank_size,
        source_weight=source_weight,
        protocol=protocol,
        size=size,
        limit=limit,
        save_pred=save_pred,
    )
    if os.path.isdir(checkpoint):
        from edgedg.evaluate.model_dir_eval import evaluate_model_dir

        result = evaluate_model_dir(checkpoint, targets, cfg, split, precision, log=click.echo)
    elif precision != "fp32":
        raise EdgeDGError("--precision selects a model directory's graphs: pass a MODEL_DIR")
    else:
        result = evaluate_checkpoint(checkpoint, targets, cfg, split, log=click.echo)
    where = f", {precision} graphs" if os.path.isdir(checkpoint) else ""
    click.echo(f"protocol {protocol}, input {result['input_size']}{where}, mIoU % (mean +- std)")
    click.echo(out.format_table(result))
    if report:
        out.write_json(report, result)
    if chart:
        from edgedg.evaluate.chart import write_chart

        write_chart(chart, result, result["classes"])
