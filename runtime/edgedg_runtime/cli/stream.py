"""`edgedg-runtime stream MODEL_DIR INPUT [OUTPUT]` (also `edgedg stream`: one command, mounted
by both command lines)."""

from __future__ import annotations

import click

from edgedg_runtime.bank_file import MAX_CAPACITY, MAX_M
from edgedg_runtime.cli_types import NON_NEGATIVE, POSITIVE, FiniteFloat
from edgedg_runtime.names import BACKENDS, NORM_MODES, ORT_LAYOUT_CHOICES, PRECISIONS


@click.command("stream", short_help="Segment a camera, video, RTSP stream or image folder.")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("input", required=False)
@click.argument("output", required=False)
@click.option(
    "--camera",
    "cameras",
    multiple=True,
    metavar="NAME=INPUT",
    help="A camera of a rig (repeat): one model, the cameras' frames in one batch, a bank each. "
    "NAME: letters, digits, - and _. Needs --out instead of INPUT/OUTPUT.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Rig output folder: DIR/NAME.mp4 per camera, or DIR/NAME/ PNGs with --visualize.",
)
@click.option(
    "--bank-dir",
    type=click.Path(file_okay=False),
    help="Rig style banks: DIR/NAME.npz per camera, loaded if present, saved at exit.",
)
@click.option("--norm", type=click.Choice(NORM_MODES), default="target", show_default=True)
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True)
@click.option(
    "--m",
    type=click.IntRange(1, MAX_M),
    default=4,
    show_default=True,
    help="Batch size M of the bank (k = M-1).",
)
@click.option(
    "--bank-size",
    "capacity",
    type=click.IntRange(1, MAX_CAPACITY),
    default=None,
    help="Bank capacity Q [default: the saved bank's, else 128].",
)
@click.option(
    "--source-weight",
    type=FiniteFloat(min=0),
    default=0.0,
    show_default=True,
    help="Source running stats as this many pseudo-frames in every prior.",
)
@click.option("--threads", type=POSITIVE, default=None, help="ONNX Runtime intra-op threads.")
@click.option(
    "--ort-layout",
    type=click.Choice(ORT_LAYOUT_CHOICES),
    default="auto",
    show_default=True,
    help="ONNX Runtime CPU layout of the segmentation graph: auto measures nchwc and nchw once "
    "and caches the faster in MODEL_DIR/engines/ort-layout.json.",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Graphs to run: ONNX Runtime runs that variant (int8: `edgedg export --int8`), "
    "TensorRT builds that engine [default: FP32 graphs / an engine already built].",
)
@click.option(
    "--input-width", type=POSITIVE, help="Capture width (cameras) / resize width (files)."
)
@click.option(
    "--input-height", type=POSITIVE, help="Capture height (cameras) / resize height (files)."
)
@click.option("--input-rate", type=POSITIVE, help="Capture frame rate (cameras).")
@click.option(
    "--visualize",
    default="overlay",
    show_default=True,
    help="Views written to an OUTPUT folder: overlay,mask.",
)
@click.option(
    "--alpha", type=FiniteFloat(0, 1), default=0.5, show_default=True, help="Overlay opacity."
)
@click.option("--display/--headless", default=False, help="Show a window (q or Esc quits).")
@click.option(
    "--profile", type=NON_NEGATIVE, default=0, help="Print per-stage times every N frames."
)
@click.option(
    "--bank",
    "bank_path",
    type=click.Path(dir_okay=False),
    help="Style bank .npz: loaded at start if present, saved at exit; locked while streaming.",
)
@click.option(
    "--bank-save-every", type=NON_NEGATIVE, default=0, help="Also save the bank every N frames."
)
@click.option("--max-frames", type=POSITIVE, default=None, help="Stop after N segmented frames.")
@click.option(
    "--timeout",
    type=FiniteFloat(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds without a frame before a live camera ends. Network streams (rtsp://, http://): "
    "each open and read waits at most this long, and the stream ends after 6x this long without "
    "a frame (its reconnect attempts).",
)
@click.option(
    "--engine-dir",
    type=click.Path(file_okay=False),
    help="Folder for TensorRT engines and the layout cache [default: MODEL_DIR/engines, or "
    "$EDGEDG_ENGINE_DIR]; an engines symlink is never followed without it.",
)
@click.option(
    "--trust-key",
    type=click.Path(exists=True, dir_okay=False),
    help="Ed25519 public key (PEM): refuse a model directory it did not sign [default: "
    "$EDGEDG_TRUST_KEY].",
)
def cli(  # noqa: A002
    model_dir,
    input,
    output,
    cameras,
    out_dir,
    bank_dir,
    bank_path,
    visualize,
    m,
    capacity,
    source_weight,
    **options,
) -> None:
    """Segment a camera, video, RTSP stream or image folder.

    INPUT: 0 | /dev/video0 | v4l2://0 | csi://0 | rtsp://... | gst://PIPELINE | video file |
    image folder or glob. OUTPUT: a .mp4/.avi overlay video or a folder for PNGs.

    A rig: --camera NAME=INPUT ... --out DIR (one model, each camera adapted on its own).

    Exit codes: 0 done; 1 refused (bad model, bank, input or option value); 2 usage error;
    3 no frame could be read (a rig: by no camera); 4 the final bank save failed (a rig: of any
    camera; wins over the others); 128+N stopped by signal N (130 Ctrl-C, 129 SIGHUP, 143
    SIGTERM) after finishing the frame, closing OUTPUT and saving the bank(s).
    """
    import logging

    if (options["input_width"] is None) != (options["input_height"] is None):
        raise click.UsageError("--input-width and --input-height go together: give both or none")

    from edgedg_runtime.bank import BankOptions
    from edgedg_runtime.errors import EdgeDGError
    from edgedg_runtime.stream import StreamOptions, check_distinct, stream

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if not (cameras or out_dir or bank_dir):
        try:
            check_distinct(
                {"MODEL_DIR": model_dir, "INPUT": input}, {"OUTPUT": output, "--bank": bank_path}
            )
        except EdgeDGError as exc:
            raise click.BadParameter(str(exc)) from None
    views = tuple(v.strip() for v in visualize.split(",") if v.strip())
    bank_options = BankOptions(m=m, capacity=capacity, source_weight=source_weight)
    opts = StreamOptions(bank=bank_path, visualize=views, bank_options=bank_options, **options)
    if cameras or out_dir or bank_dir:
        _rig(model_dir, input, output, cameras, out_dir, bank_dir, opts)
    if input is None:
        raise click.UsageError("give INPUT, or --camera NAME=INPUT (repeat) with --out DIR")
    summary = stream(model_dir, input, output, opts, echo=click.echo)
    click.echo(summary.format())
    _exit(summary, input)


def _exit(summary, source: str) -> None:
    """Print the error line of the exit code and exit. A capture thread still blocked inside
    OpenCV (a stalled network stream) would abort the interpreter's exit with SIGABRT, so then
    the process ends with os._exit once everything is written (see sources.LiveCapture)."""
    import os
    import sys

    from edgedg_runtime.stream import EXIT_BANK_NOT_SAVED, EXIT_NO_FRAMES, EXIT_OUTPUT_FAILED

    code = summary.exit_code()
    if code == EXIT_NO_FRAMES:
        click.echo(f"Error: no frame could be read from {source}: check that it plays", err=True)
    elif code == EXIT_OUTPUT_FAILED:
        click.echo(f"Error: output failed ({summary.output_error})", err=True)
    elif code == EXIT_BANK_NOT_SAVED:
        click.echo(
            f"Error: the style bank was not saved ({summary.bank_error}): free space or make "
            "its folder writable; this run's adaptation is lost",
            err=True,
        )
    if summary.capture_left:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


def _rig(model_dir, input, output, cameras, out_dir, bank_dir, opts) -> None:  # noqa: A002
    """`edgedg stream MODEL_DIR --camera NAME=INPUT ... --out DIR`."""
    from edgedg_runtime.rig_stream import format_summaries, parse_cameras, rig_exit_code, stream_rig
    from edgedg_runtime.stream import EXIT_NO_FRAMES, EXIT_OUTPUT_FAILED

    if input is not None or output is not None or opts.bank:
        raise click.UsageError("a rig takes --camera NAME=INPUT and --out / --bank-dir only")
    if not cameras:
        raise click.UsageError("--out and --bank-dir belong to a rig: add --camera NAME=INPUT")
    from edgedg_runtime.errors import EdgeDGError
    from edgedg_runtime.rig_stream import check_rig_paths

    folders = click.get_current_context().get_parameter_source("visualize").name != "DEFAULT"
    pairs = parse_cameras(cameras)
    try:
        check_rig_paths(model_dir, pairs, out_dir, bank_dir, folders)
    except EdgeDGError as exc:
        raise click.BadParameter(str(exc)) from None
    summaries = stream_rig(model_dir, pairs, out_dir, opts, bank_dir, folders, echo=click.echo)
    click.echo(format_summaries(summaries))
    code = rig_exit_code(summaries)
    if code == EXIT_NO_FRAMES:
        click.echo("Error: no camera gave a frame: check that each input plays", err=True)
    elif code == EXIT_OUTPUT_FAILED:
        failed = [f"{n}: {s.output_error}" for n, s in summaries.items() if s.output_error]
        click.echo(f"Error: output failed ({'; '.join(failed)})", err=True)
    raise SystemExit(code)
