"""`edgedg-runtime bench MODEL_DIR`: latency per mode, and the rig scaling table.

`edgedg bench` is this command plus `--profile` (ONNX Runtime's breakdown per node kind, which
reads the graphs with onnx: the training box's side): both are built from ``bench_options`` and
``run_bench``, so the options are defined once."""

from __future__ import annotations

from typing import Callable

import click

from edgedg_runtime.cli_types import NON_NEGATIVE, POSITIVE
from edgedg_runtime.names import BACKENDS, BENCH_MODES, ORT_LAYOUT_CHOICES, PRECISIONS


def bench_options(command: Callable) -> Callable:
    """Apply the options of `bench` (both command lines) to ``command``."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


_OPTIONS = [
    click.argument("model_dir", type=click.Path(exists=True, file_okay=False)),
    click.option(
        "--frames", type=POSITIVE, default=50, show_default=True, help="Timed frames per mode."
    ),
    click.option(
        "--warmup", type=NON_NEGATIVE, default=5, show_default=True, help="Untimed frames first."
    ),
    click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True),
    click.option(
        "--mode",
        "modes",
        type=click.Choice(BENCH_MODES),
        multiple=True,
        help="Modes to time (repeatable; default all).",
    ),
    click.option("--threads", type=POSITIVE, default=None, help="ONNX Runtime intra-op threads."),
    click.option(
        "--ort-layout",
        "ort_layouts",
        type=click.Choice(ORT_LAYOUT_CHOICES),
        multiple=True,
        help="ONNX Runtime CPU layout (repeatable; default auto): with several, one row per mode "
        "and layout, ratios to the fastest plain row.",
    ),
    click.option(
        "--precision",
        "precisions",
        type=click.Choice(PRECISIONS),
        multiple=True,
        help="Graphs to time (repeatable; default the FP32 graphs / an engine already built): with "
        "several, one row per mode and precision, ratios to the fastest FP32 plain row.",
    ),
    click.option(
        "--m", type=POSITIVE, default=4, show_default=True, help="Batch size M of the bank."
    ),
    click.option(
        "--compare",
        "compare",
        multiple=True,
        type=click.Path(exists=True, file_okay=False),
        help="Another model directory of the same input size, timed in target mode in the same "
        "run (repeatable): compares two exports of one checkpoint.",
    ),
    click.option(
        "--json", "json_path", type=click.Path(dir_okay=False), help="Also write JSON here."
    ),
    click.option(
        "--cameras",
        help="Camera counts of a rig scaling table, e.g. 1,2,4,8: a Rig against that many "
        "separate Segmenters (round-robin), each in its own process; --mode picks the mode "
        "(default target).",
    ),
]


@click.command("bench", short_help="Runtime latency per norm mode, as ratios to plain.")
@bench_options
def cli(**options) -> None:
    """Runtime latency per norm mode (median and p90 per stage), as ratios to plain."""
    run_bench(**options)


def run_bench(
    model_dir,
    frames,
    warmup,
    backend,
    modes,
    threads,
    ort_layouts,
    precisions,
    m,
    compare,
    json_path,
    cameras,
) -> None:
    """The bench table (or with ``cameras`` the rig scaling table), printed."""
    if cameras:
        _scaling(model_dir, cameras, modes, backend, frames, warmup, threads, json_path)
        return
    from edgedg_runtime.bank import BankOptions
    from edgedg_runtime.benchmark import bench, format_table
    from edgedg_runtime.fileio import write_json

    report = bench(
        model_dir,
        frames,
        warmup,
        backend,
        modes or BENCH_MODES,
        threads,
        BankOptions(m),
        compare=compare,
        ort_layouts=ort_layouts or ("auto",),
        precisions=precisions or (None,),
    )
    click.echo(format_table(report))
    if json_path:
        write_json(json_path, report)
        click.echo(f"wrote {json_path}")


def _scaling(model_dir, cameras, modes, backend, frames, warmup, threads, json_path) -> None:
    """`--cameras`: the rig scaling table."""
    from edgedg_runtime.errors import EdgeDGError
    from edgedg_runtime.fileio import write_json
    from edgedg_runtime.rig_bench import bench_rig, format_rig_table

    try:
        counts = [int(c) for c in cameras.split(",") if c.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1 or len(modes) > 1 or "plain" in modes:
        raise EdgeDGError(
            "--cameras takes counts like 1,2,4,8, with at most one --mode (not plain)"
        )
    norm = modes[0] if modes else "target"
    rows = bench_rig(model_dir, counts, norm, backend, frames, warmup, threads, click.echo)
    head = f"{model_dir}: {norm} on {backend}, {frames} ticks after {warmup} warm-up"
    click.echo(format_rig_table(rows, head))
    if json_path:
        write_json(json_path, {"rows": rows})
