"""`edgedg bench MODEL_DIR`."""

from __future__ import annotations

import click

from edgedg_runtime.cli_types import NON_NEGATIVE, POSITIVE
from edgedg_runtime.names import BACKENDS, BENCH_MODES, ORT_LAYOUT_CHOICES, PRECISIONS


@click.command("bench", short_help="Runtime latency per norm mode, as ratios to plain.")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--frames", type=POSITIVE, default=50, show_default=True, help="Timed frames per mode."
)
@click.option(
    "--warmup", type=NON_NEGATIVE, default=5, show_default=True, help="Untimed frames first."
)
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True)
@click.option(
    "--mode",
    "modes",
    type=click.Choice(BENCH_MODES),
    multiple=True,
    help="Modes to time (repeatable; default all).",
)
@click.option("--threads", type=POSITIVE, default=None, help="ONNX Runtime intra-op threads.")
@click.option(
    "--ort-layout",
    "ort_layouts",
    type=click.Choice(ORT_LAYOUT_CHOICES),
    multiple=True,
    help="ONNX Runtime CPU layout (repeatable; default auto): with several, one row per mode and "
    "layout, ratios to the fastest plain row.",
)
@click.option(
    "--precision",
    "precisions",
    type=click.Choice(PRECISIONS),
    multiple=True,
    help="Graphs to time (repeatable; default the FP32 graphs / an engine already built): with "
    "several, one row per mode and precision, ratios to the fastest FP32 plain row.",
)
@click.option("--m", type=POSITIVE, default=4, show_default=True, help="Batch size M of the bank.")
@click.option(
    "--compare",
    "compare",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Another model directory of the same input size, timed in target mode in the same "
    "run (repeatable): compares two exports of one checkpoint.",
)
@click.option(
    "--profile",
    is_flag=True,
    help="Also print ONNX Runtime's breakdown of plain vs segment (node kinds, fusions, ms) in "
    "each --ort-layout (auto: both).",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write JSON here.")
def cli(
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
    profile,
    json_path,
) -> None:
    """Runtime latency per norm mode (median and p90 per stage), as ratios to plain."""
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
    if profile:
        from edgedg.ort_profile import format_profiles, profile_layouts, profile_model_dir

        layouts = profile_layouts(ort_layouts or ("auto",))
        for precision in precisions or (None,):
            profiles = profile_model_dir(model_dir, threads=threads, layouts=layouts,
                                         precision=precision)  # fmt: skip
            click.echo(format_profiles(profiles))
