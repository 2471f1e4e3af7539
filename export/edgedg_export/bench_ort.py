"""ONNX Runtime CPU latency of plain.onnx vs segment.onnx (`source` and `sib` priors).

    python -m edgedg_export.bench_ort resnet18:256x512 resnet50:512x1024 --runs 20

Random weights (latency does not depend on them); each configuration is exported to a temporary
model directory; the three graphs run on the same frame in interleaved rounds, median of --runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def measure(backbone: str, height: int, width: int, runs: int = 20, threads: int = 0) -> dict:
    """Median latency (ms) of plain / segment-source / segment-sib for one configuration."""
    import onnxruntime as ort

    from edgedg.checkpoint import IMAGENET_MEAN, IMAGENET_STD, class_table
    from edgedg.models import create_model
    from edgedg_export.model_dir import ExportOptions, export_model
    from edgedg_export.parity import pooled_prior, synthetic_images
    from edgedg_runtime.contract import load_source_stats

    model = create_model(backbone, num_classes=19).eval()
    names, colors = class_table()
    meta = {
        "model": {"name": backbone, "num_classes": 19, "output_stride": 8, "head": "fcn"},
        "classes": names,
        "colors": colors,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model"
        contract = export_model(model, meta, out, ExportOptions(imgsz=(height, width)))
        source, _ = load_source_stats(out, contract)
        fixed = contract.stat_layout.fixed_mask()
        rng = np.random.default_rng(0)
        fake = [source * rng.uniform(0.8, 1.2, source.shape).astype(np.float32) for _ in range(3)]
        priors = {
            "source": pooled_prior([source], source, fixed, 0.0),
            "sib": pooled_prior(fake, source, fixed, 0.25),
        }
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sessions = {
            k: ort.InferenceSession(
                str(out / f"{k}.onnx"), opts, providers=["CPUExecutionProvider"]
            )
            for k in ("plain", "segment")
        }
        image = synthetic_images(1, height, width)
        feeds = {
            "plain": ("plain", {"image": image}),
            "source": ("segment", {"image": image, "norm_prior": priors["source"]}),
            "sib": ("segment", {"image": image, "norm_prior": priors["sib"]}),
        }
        times: dict[str, list[float]] = {k: [] for k in feeds}
        for _ in range(2):  # warm-up
            for graph, feed in feeds.values():
                sessions[graph].run(None, feed)
        for _ in range(runs):
            for mode, (graph, feed) in feeds.items():
                start = time.perf_counter()
                sessions[graph].run(None, feed)
                times[mode].append((time.perf_counter() - start) * 1e3)
    return {mode: statistics.median(t) for mode, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", help="BACKBONE:HxW, e.g. resnet18:256x512")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="ORT intra-op threads (0: all)")
    args = parser.parse_args(argv)
    print(
        f"{'config':22} {'plain ms':>9} {'src ms':>9} {'sib ms':>9} {'src/plain':>9} "
        f"{'sib/plain':>9}   (ONNX Runtime CPU, median of {args.runs})"
    )
    for config in args.configs:
        backbone, size = config.split(":")
        h, w = (int(v) for v in size.split("x"))
        ms = measure(backbone, h, w, args.runs, args.threads)
        print(
            f"{config:22} {ms['plain']:9.1f} {ms['source']:9.1f} {ms['sib']:9.1f} "
            f"{ms['source'] / ms['plain']:9.2f}x {ms['sib'] / ms['plain']:8.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
