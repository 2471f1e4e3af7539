"""Single-camera latency of two edgedg trees, each on its own model directory, in alternating runs.

    python scripts/latency_ab.py OLD_TREE OLD_MODEL_DIR NEW_TREE NEW_MODEL_DIR --norm target

`edgedg bench --compare` cannot compare across a contract schema change (one runtime reads one
schema), so each run is a fresh process whose import path is one tree's source folders (TREE,
TREE/export, TREE/runtime): the old runtime on the old export, the new one on the new export.
Each run opens a Segmenter, segments 3 untimed frames, then times ``--frames`` frames of a
synthetic stream at the model's input size; runs alternate A, B, A, B, ... so that a load change
on the machine hits both alike. Prints, per tree, the median of the per-frame times over all
runs and the range of the per-run medians (the run-to-run spread).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time
from edgedg_runtime.benchmark import synthetic_frames
from edgedg_runtime.segmenter import Segmenter
model_dir, norm, frames, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with Segmenter(model_dir, backend="ort", norm=norm, threads=int(threads) or None) as seg:
    h, w = seg.input_size
    stream = synthetic_frames(h, w, frames + 3, seed=0)
    times = []
    for i, frame in enumerate(stream):
        t = time.perf_counter()
        seg(frame)
        if i >= 3:
            times.append((time.perf_counter() - t) * 1000.0)
    print(json.dumps({"ms": times, "layout": seg.ort_layout}))
"""


def run(tree: str, model_dir: str, norm: str, frames: int, threads: int) -> dict:
    paths = [tree, os.path.join(tree, "export"), os.path.join(tree, "runtime")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    args = [sys.executable, "-c", CHILD, model_dir, norm, str(frames), str(threads)]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree_a")
    parser.add_argument("model_a")
    parser.add_argument("tree_b")
    parser.add_argument("model_b")
    parser.add_argument("--norm", default="target")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--threads", type=int, default=0, help="0: ONNX Runtime's default")
    args = parser.parse_args()
    sides = {"A": (args.tree_a, args.model_a), "B": (args.tree_b, args.model_b)}
    results: dict = {name: {"ms": [], "medians": [], "layout": ""} for name in sides}
    for _ in range(args.rounds):
        for name, (tree, model_dir) in sides.items():
            out = run(tree, model_dir, args.norm, args.frames, args.threads)
            results[name]["ms"] += out["ms"]
            results[name]["medians"].append(statistics.median(out["ms"]))
            results[name]["layout"] = out["layout"]
    print(f"norm {args.norm}, {args.rounds} alternating runs x {args.frames} frames each")
    print(f"{'':2} {'median ms':>10} {'run medians min..max':>22}  layout  tree / model dir")
    for name, (tree, model_dir) in sides.items():
        r = results[name]
        spread = f"{min(r['medians']):.2f}..{max(r['medians']):.2f}"
        line = f"{name:2} {statistics.median(r['ms']):10.2f} {spread:>22}  {r['layout']:6}"
        print(f"{line}  {tree} / {model_dir}")
    a, b = (statistics.median(results[n]["ms"]) for n in sides)
    print(f"B / A = {b / a:.3f}")


if __name__ == "__main__":
    main()
