"""`edgedg bench MODEL_DIR`: the runtime's bench (edgedg_runtime.cli.bench) plus `--profile`,
ONNX Runtime's breakdown per node kind, which reads the graphs with onnx (the training box)."""

from __future__ import annotations

import click

from edgedg_runtime.cli.bench import bench_options, run_bench


@click.command("bench", short_help="Runtime latency per norm mode, as ratios to plain.")
@bench_options
@click.option(
    "--profile",
    is_flag=True,
    help="Also print ONNX Runtime's breakdown of plain vs segment (node kinds, fusions, ms) in "
    "each --ort-layout (auto: both).",
)
def cli(profile: bool, **options) -> None:
    """Runtime latency per norm mode (median and p90 per stage), as ratios to plain."""
    run_bench(**options)
    if profile and not options["cameras"]:
        from edgedg.ort_profile import format_profiles, profile_layouts, profile_model_dir

        layouts = profile_layouts(options["ort_layouts"] or ("auto",))
        for precision in options["precisions"] or (None,):
            profiles = profile_model_dir(
                options["model_dir"], threads=options["threads"], layouts=layouts,
                precision=precision,
            )  # fmt: skip
            click.echo(format_profiles(profiles))
