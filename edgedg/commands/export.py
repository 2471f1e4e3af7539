"""`edgedg export CHECKPOINT --out MODEL_DIR`."""

from __future__ import annotations

import click

from edgedg_runtime.cli_types import POSITIVE
from edgedg_runtime.names import PRECISIONS

# 13: the first opset whose Split takes its sizes as an input (the statistics graphs need it);
# 20: the last the TorchScript exporter writes.
OPSETS = click.IntRange(13, 20)


def _imgsz(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple | None:
    if value is None:
        return None
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not HxW, e.g. 512x1024") from None
    return h, w


@click.command("export", short_help="Export a checkpoint to a model directory (ONNX, TensorRT).")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(), help="Model directory to write.")
@click.option(
    "--imgsz", callback=_imgsz, help="Input size HxW (default: the checkpoint's training size)."
)
@click.option(
    "--opset", type=OPSETS, default=17, show_default=True, help="ONNX opset (TensorRT 8.5: <= 17)."
)
@click.option("--logits", is_flag=True, help="Also output logits from segment/plain.")
@click.option(
    "--max-batch",
    type=POSITIVE,
    default=4,
    show_default=True,
    help="Largest batch N the graphs and engines take: cameras per rig call, M of sib-exact.",
)
@click.option(
    "--io",
    type=click.Choice(["uint8", "float"]),
    default="uint8",
    show_default=True,
    help="Image input dtype; float: float32 image (0..255) and int32 labels.",
)
@click.option("--simplify", is_flag=True, help="Run onnxsim (kept only if the I/O is intact).")
@click.option(
    "--int8", is_flag=True, help="Also write Q/DQ INT8 variants of segment and plain (calibrated)."
)
@click.option(
    "--calib",
    multiple=True,
    help="FORMAT:PATH of calibration images (repeat; default: the checkpoint's training sources).",
)
@click.option(
    "--calib-images", type=POSITIVE, default=32, show_default=True, help="Calibration images."
)
@click.option(
    "--calib-method",
    type=click.Choice(["minmax", "percentile"]),
    default="minmax",
    show_default=True,
    help="How activation ranges are found.",
)
@click.option(
    "--calib-mode",
    type=click.Choice(["target", "source", "sib"]),
    default="target",
    show_default=True,
    help="Statistics mode the segment graph is calibrated in (the mode it will run).",
)
@click.option("--trt", is_flag=True, help="Also build TensorRT engines into MODEL_DIR/engines.")
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="fp32",
    show_default=True,
    help="TensorRT precision (statistics stay FP32; int8 needs --int8: the Q/DQ graphs).",
)
@click.option("--half", is_flag=True, help="Alias of --precision fp16.")
@click.option("--workspace", type=POSITIVE, help="TensorRT builder workspace limit in MiB.")
@click.option("--timing-cache", type=click.Path(dir_okay=False), help="TensorRT timing cache.")
@click.option(
    "--trt-version",
    "trt_versions",
    default="all",
    show_default=True,
    help="Warn when a graph would not parse on these TensorRT versions (comma list of "
    "8.5, 8.6, 10.3, 10, 11, or all: every JetPack's).",
)
@click.option(
    "--sign",
    "sign_key",
    type=click.Path(exists=True, dir_okay=False),
    help="Ed25519 private key (PEM, kept outside MODEL_DIR): write contract.json.sig.",
)
def cli(
    checkpoint,
    out,
    imgsz,
    opset,
    logits,
    max_batch,
    io,
    simplify,
    int8,
    calib,
    calib_images,
    calib_method,
    calib_mode,
    trt,
    precision,
    half,
    workspace,
    timing_cache,
    trt_versions,
    sign_key,
) -> None:
    """Export CHECKPOINT to MODEL_DIR: style/segment/plain ONNX, contract.json, source stats."""
    from edgedg_export.calibrate import Int8Options
    from edgedg_export.model_dir import ExportOptions, export_model_dir
    from edgedg_export.trt import EngineOptions
    from edgedg_export.trt_check import trt_rows, versions_for

    versions = versions_for(trt_versions)  # a bad name fails before the export
    if (calib or precision == "int8") and not int8:
        raise click.UsageError("--calib and --precision int8 need the INT8 graphs: add --int8")
    quant = Int8Options(tuple(calib), calib_images, calib_method, calib_mode) if int8 else None
    options = ExportOptions(
        imgsz=imgsz,
        opset=opset,
        logits=logits,
        max_batch=max_batch,
        io=io,
        simplify=simplify,
        int8=quant,
    )
    precision = "fp16" if half else precision
    engines = (
        EngineOptions(precision=precision, workspace_mib=workspace, timing_cache=timing_cache)
        if trt
        else None
    )
    contract = export_model_dir(checkpoint, out, options, engines=engines, sign_key=sign_key)
    seg = contract.graph("segment")
    click.echo(f"wrote {out}: {', '.join(sorted(contract.files))}")
    if sign_key:
        click.echo(f"signed {out}/contract.json with {sign_key}: contract.json.sig")
    click.echo(
        f"segment: {[t.name for t in seg.inputs]} -> {[t.name for t in seg.outputs]}, "
        f"S = {contract.stat_layout.total}, input {contract.input.height}x"
        f"{contract.input.width} {contract.input.dtype}"
    )
    for row in trt_rows(out, versions):
        if not row.ok:
            problems = "; ".join(f"{f.problem} -> {f.fix}" for f in row.errors)
            click.echo(f"warning: TensorRT {row.version} would not parse {row.graph}: {problems}")
