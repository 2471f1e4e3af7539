"""`edgedg bench MODEL_DIR --cameras 1,2,4,8`: how a Rig scales with its cameras.

For each camera count N two configurations run, each in a fresh process (resident memory is a
process's): ``rig``, one Rig of N cameras (one session per graph, one batched call per tick),
and ``separate``, N Segmenters called round-robin in one thread (what an application without a
rig does). Each ticks ``warmup`` untimed then ``frames`` timed times over N synthetic streams
(each camera its own phase and exposure); a tick is every camera's next frame. Reported per
configuration: total frames/s (N x ticks / time), tick latency median and p90 (the rig's batch
call; the separate Segmenters' N calls), resident memory after the run (VmRSS) and its peak
(VmHWM), both from /proc/self/status (Linux; else n/a).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Callable, Sequence

import numpy as np

KINDS = ("rig", "separate")


def resident_mib() -> tuple:
    """(VmRSS, VmHWM) of this process in MiB, or (nan, nan) where /proc is not there."""
    found = {}
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0]) / 1024.0
    except OSError:
        pass
    return found.get("VmRSS", float("nan")), found.get("VmHWM", float("nan"))


def run_one(model_dir: str, kind: str, n: int, args: dict) -> dict:
    """One configuration in this process: the numbers of the module docstring."""
    from edgedg_runtime.benchmark import synthetic_frames
    from edgedg_runtime.rig import Rig
    from edgedg_runtime.segmenter import Segmenter

    names = [f"cam{i}" for i in range(n)]
    common = dict(backend=args["backend"], norm=args["norm"], threads=args["threads"])
    if kind == "rig":
        runner = Rig(model_dir, names, **common)
        size = runner.core.input_size
    else:
        segs = [Segmenter(model_dir, **common) for _ in names]
        size = segs[0].input_size
    ticks = args["warmup"] + args["frames"]
    streams = [
        [np.clip(f * (1.0 - 0.1 * i), 0, 255).astype(np.uint8) for f in frames]
        for i, frames in enumerate(
            synthetic_frames(size[0], size[1], ticks, seed=i, block=5 + i) for i in range(n)
        )
    ]
    times = []
    start = 0.0
    for t in range(ticks):
        if t == args["warmup"]:
            start = time.perf_counter()
        t0 = time.perf_counter()
        if kind == "rig":
            runner({name: streams[i][t] for i, name in enumerate(names)})
        else:
            for i, seg in enumerate(segs):
                seg(streams[i][t])
        if t >= args["warmup"]:
            times.append((time.perf_counter() - t0) * 1000.0)
    seconds = time.perf_counter() - start
    rss, peak = resident_mib()
    return {
        "kind": kind,
        "cameras": n,
        "fps": n * args["frames"] / seconds,
        "median_ms": float(np.percentile(times, 50)),
        "p90_ms": float(np.percentile(times, 90)),
        "rss_mib": rss,
        "peak_mib": peak,
    }


def bench_rig(
    model_dir: str,
    cameras: Sequence[int],
    norm: str = "target",
    backend: str = "ort",
    frames: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list:
    """One row per camera count and configuration (``KINDS``), each measured in a subprocess."""
    args = {"backend": backend, "norm": norm, "frames": frames, "warmup": warmup}
    args["threads"] = threads
    rows = []
    for n in cameras:
        for kind in KINDS:
            payload = json.dumps({"model_dir": str(model_dir), "kind": kind, "n": n, "args": args})
            out = subprocess.run(
                [sys.executable, "-m", "edgedg_runtime.rig_bench", payload],
                check=True,
                capture_output=True,
                text=True,
                env=dict(os.environ),
            ).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            if progress:
                progress(f"{kind} x {n}: {rows[-1]['fps']:.2f} frames/s")
    return rows


def format_rig_table(rows: list, header: str = "") -> str:
    """Rows as a fixed-width table; ``x sep`` compares each rig row with the separate
    Segmenters of the same camera count (frames/s ratio, memory ratio)."""
    lines = [header] if header else []
    lines.append(
        f"{'cameras':>7} {'run':>9} {'frames/s':>9} {'tick ms median':>15} {'p90':>8} "
        f"{'RSS MiB':>8} {'peak MiB':>9} {'fps x sep':>10} {'RSS x sep':>10}"
    )
    separate = {r["cameras"]: r for r in rows if r["kind"] == "separate"}
    for r in rows:
        other = separate.get(r["cameras"])
        fps_x = rss_x = ""
        if r["kind"] == "rig" and other:
            fps_x = f"{r['fps'] / other['fps']:.2f}"
            rss_x = f"{r['rss_mib'] / other['rss_mib']:.2f}"
        lines.append(
            f"{r['cameras']:>7} {r['kind']:>9} {r['fps']:>9.2f} {r['median_ms']:>15.1f} "
            f"{r['p90_ms']:>8.1f} {r['rss_mib']:>8.0f} {r['peak_mib']:>9.0f} {fps_x:>10} "
            f"{rss_x:>10}"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # a child of bench_rig
    job = json.loads(sys.argv[1])
    print(json.dumps(run_one(job["model_dir"], job["kind"], job["n"], job["args"])))
