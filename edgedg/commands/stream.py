"""`edgedg stream MODEL_DIR INPUT [OUTPUT]`."""

from __future__ import annotations

import click

MODES = ("source", "target", "sib", "qib", "sib-exact")


@click.command("stream")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("input")
@click.argument("output", required=False)
@click.option("--norm", type=click.Choice(MODES), default="target", show_default=True)
@click.option(
    "--backend", type=click.Choice(["auto", "ort", "trt"]), default="auto", show_default=True
)
@click.option(
    "--m", type=int, default=4, show_default=True, help="Batch size M of the bank (k = M-1)."
)
@click.option("--bank-size", type=int, default=128, show_default=True, help="Bank capacity Q.")
@click.option(
    "--source-weight",
    type=float,
    default=0.0,
    show_default=True,
    help="Source running stats as this many pseudo-frames in every prior.",
)
@click.option("--threads", type=int, default=None, help="ONNX Runtime intra-op threads.")
@click.option("--input-width", type=int, help="Capture width (cameras) / resize width (files).")
@click.option("--input-height", type=int, help="Capture height (cameras) / resize height (files).")
@click.option("--input-rate", type=int, help="Capture frame rate (cameras).")
@click.option(
    "--visualize",
    default="overlay",
    show_default=True,
    help="Views written to an OUTPUT folder: overlay,mask.",
)
@click.option("--alpha", type=float, default=0.5, show_default=True, help="Overlay opacity.")
@click.option("--display/--headless", default=False, help="Show a window (q or Esc quits).")
@click.option("--profile", type=int, default=0, help="Print per-stage times every N frames.")
@click.option(
    "--bank",
    "bank_path",
    type=click.Path(dir_okay=False),
    help="Style bank .npz: loaded at start if present, saved at exit.",
)
@click.option("--bank-save-every", type=int, default=0, help="Also save the bank every N frames.")
@click.option("--max-frames", type=int, default=None, help="Stop after N segmented frames.")
@click.option(
    "--timeout",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds without a frame before a live source ends.",
)
def cli(model_dir, input, output, bank_path, visualize, **options) -> None:  # noqa: A002
    """Segment a camera, video, RTSP stream or image folder.

    INPUT: 0 | /dev/video0 | v4l2://0 | csi://0 | rtsp://... | gst://PIPELINE | video file |
    image folder or glob. OUTPUT: a .mp4/.avi overlay video or a folder for PNGs.
    """
    import logging

    from edgedg_runtime.stream import StreamOptions, stream

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    views = tuple(v.strip() for v in visualize.split(",") if v.strip())
    opts = StreamOptions(bank=bank_path, visualize=views, **options)
    summary = stream(model_dir, input, output, opts, echo=click.echo)
    click.echo(summary.format())
