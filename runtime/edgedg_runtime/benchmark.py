"""Latency per norm mode on one backend, as ratios to ``plain`` (DESIGN 6: stream overhead).

All modes are opened at once and run ROUND-ROBIN on the same frame sequence (frame i through
every mode before frame i + 1), so a load change on the machine hits every mode alike and the
ratios stay meaningful on a busy computer. The frames are a synthetic sequence at the model's own
input size that alternates between two domains (bright day-like, dark blue-ish night-like scenes
with noise), so the bank and its selection do real work.

Several ONNX Runtime CPU layouts (``ort_layouts``) give each mode one row per layout, all in the
same round-robin, and ratios are to the FASTEST plain row: the overhead of a mode is measured
against the best folded baseline this machine has, not against a layout it would not run.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from edgedg_runtime.bank import BankOptions, SourceStats, StyleBank
from edgedg_runtime.errors import EdgeDGError
from edgedg_runtime.layout import StatLayout
from edgedg_runtime.names import BENCH_MODES

STAGES = ("preprocess", "style", "select", "segment", "postprocess", "total")


def synthetic_frames(height: int, width: int, n: int, seed: int = 0, block: int = 10) -> list:
    """``n`` uint8 BGR frames [height, width, 3]: a moving scene (sky gradient, road, stripes)
    whose domain switches every ``block`` frames between day and night."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    frames = []
    for i in range(n):
        night = (i // block) % 2 == 1
        phase = 0.03 * i
        sky = np.clip(1.2 - 2.0 * y, 0, 1) * (0.25 if night else 0.9)
        road = (y > 0.55) * (0.15 if night else 0.45)
        stripes = 0.2 * (np.sin(40.0 * (x + phase) + 6.0 * y) > 0.6)
        base = sky + road + stripes * (y > 0.3)
        tint = np.array([1.4, 0.8, 0.6] if night else [0.8, 0.95, 1.0], np.float32)  # BGR
        image = base[..., None] * tint * 255.0
        image += rng.normal(0.0, 12.0 if night else 4.0, image.shape).astype(np.float32)
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    return frames


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0


def bench(
    model_dir: str,
    frames: int = 50,
    warmup: int = 5,
    backend: str = "auto",
    modes: Sequence[str] = BENCH_MODES,
    threads: int | None = None,
    bank_options: BankOptions = BankOptions(),
    progress: Callable[[str], None] | None = None,
    compare: Sequence[str] = (),
    ort_layouts: Sequence[str] = ("auto",),
    precisions: Sequence[str | None] = (None,),
) -> dict:
    """Time every mode over ``frames`` frames after ``warmup`` frames. Returns a JSON-ready dict:
    model, backend, input size, frames, ``baseline`` (the fastest plain row) and per row the
    median / p90 ms of every stage and ``ratio`` = median total / the baseline's (when plain is
    among the modes).

    ``compare``: other model directories of the same input size (e.g. the same checkpoint
    exported by another version); each runs in ``target`` mode as one more row, "target@DIR",
    interleaved with the rest, so two graph formulations are compared in one run.
    ``ort_layouts``: ONNX Runtime CPU layouts (auto | nchwc | nchw). With one, rows are named by
    mode; with several, every mode (and compare) row is repeated per layout as "MODE [LAYOUT]",
    auto showing what it chose ("plain [auto->nchw]").
    ``precisions``: Segmenter precisions (None | fp32 | fp16 | int8); with several, every row is
    repeated per precision as "MODE int8", and ratios are to the fastest FP32 plain row."""
    layouts = list(dict.fromkeys(ort_layouts))
    _check_layouts(layouts, backend)
    rows = _Rows(backend, threads, bank_options, layouts, list(dict.fromkeys(precisions)))
    segs: dict = {}  # row name -> open Segmenter, filled as they open so that all get closed
    try:
        plain_rows = rows.open(segs, model_dir, modes)
        for other in compare:
            rows.open(segs, other, ["target@" + other])
        first = next(iter(segs.values()))
        h, w = first.input_size
        times = _time_rows(segs, synthetic_frames(h, w, warmup + frames), warmup, progress)
        report = {
            "model": first.contract.model.name,
            "backend": first.runs_on,
            "input": [h, w],
            "frames": frames,
            "warmup": warmup,
            "m": bank_options.m,
            "modes": {row: _summarise(times[row]) for row in segs},
        }
    finally:
        for seg in segs.values():
            seg.close()
    _add_ratios(report, plain_rows)
    return report


class _Rows:
    """Opens one Segmenter per mode, layout and precision (the row settings shared by a run)."""

    def __init__(self, backend, threads, bank_options, layouts, precisions):
        self.backend, self.threads, self.bank_options = backend, threads, bank_options
        self.layouts, self.precisions = layouts, precisions

    def open(self, segs: dict, model_dir, modes) -> list:
        """Open the rows of ``modes`` into ``segs``; return the baseline candidates: the plain
        rows in FP32 (or, when FP32 is not timed, every plain row). A mode "target@DIR" is the
        target mode of ``model_dir`` (a --compare directory)."""
        from edgedg_runtime.segmenter import Segmenter

        plain_rows, fp32_rows = [], []
        for mode in modes:
            norm = "target" if mode.startswith("target@") else "source" if mode == "plain" else mode
            for precision in self.precisions:
                for layout in self.layouts:
                    seg = Segmenter(
                        model_dir,
                        self.backend,
                        norm,
                        self.bank_options,
                        threads=self.threads,
                        fold_source=mode == "plain",
                        ort_layout=layout,
                        precision=precision,
                    )
                    row = _row(mode, layout, seg, self.layouts)
                    if len(self.precisions) > 1:
                        row = f"{row} {precision or 'fp32'}"
                    segs[row] = seg
                    if mode == "plain":
                        plain_rows.append(row)
                        if precision in (None, "fp32"):
                            fp32_rows.append(row)
        return fp32_rows or plain_rows


def _time_rows(segs: dict, sequence: list, warmup: int, progress) -> dict:
    """Round-robin: frame i through every row before frame i + 1; ms per stage after warm-up."""
    times: dict = {row: {} for row in segs}
    for i, frame in enumerate(sequence):
        for row, seg in segs.items():
            result = seg(frame)
            if i >= warmup:
                for stage, ms in result.timings.items():
                    times[row].setdefault(stage, []).append(ms)
        if progress and (i + 1) % 10 == 0:
            progress(f"{i + 1}/{len(sequence)} frames")
    return times


def _add_ratios(report: dict, plain_rows: list) -> None:
    """``baseline`` = the fastest plain row; every row's ``ratio`` = its median total / that."""
    report["baseline"] = min(
        plain_rows, key=lambda row: report["modes"][row]["total"]["median"], default=None
    )
    base = report["modes"][report["baseline"]]["total"]["median"] if plain_rows else None
    for entry in report["modes"].values():
        entry["ratio"] = entry["total"]["median"] / base if base else None


def _check_layouts(layouts: list, backend: str) -> None:
    """Several layouts are an ONNX Runtime comparison: refused where TensorRT would run."""
    from edgedg_runtime.backends import resolve_kind
    from edgedg_runtime.backends.ort import check_layout

    for layout in layouts:
        check_layout(layout)
    if not layouts:
        raise EdgeDGError("give at least one ONNX Runtime layout")
    if len(layouts) > 1 and resolve_kind(backend) != "ort":
        raise EdgeDGError(
            "several ONNX Runtime layouts compare ONNX Runtime sessions, but the backend here is "
            "TensorRT: use --backend ort, or one --ort-layout"
        )


def _row(name: str, layout: str, seg: object, layouts: list) -> str:
    """The row of ``name`` (a mode or target@DIR) run with ``layout``: the name alone when one
    layout is timed, else "NAME [LAYOUT]", auto with its choice."""
    if len(layouts) == 1:
        return name
    if layout == "auto":
        layout = f"auto->{seg.ort_layout or 'default'}"
    return f"{name} [{layout}]"


def _summarise(stage_times: dict) -> dict:
    return {
        stage: {"median": _percentile(v, 50), "p90": _percentile(v, 90)}
        for stage, v in stage_times.items()
    }


def format_table(report: dict) -> str:
    """A fixed-width table: one row per mode (and layout), median (p90) ms per stage, ratio to
    the fastest plain row."""
    width = max([10, *(len(mode) + 1 for mode in report["modes"])])
    header = f"{'mode':<{width}}" + "".join(f"{s:>20}" for s in STAGES) + f"{'x plain':>9}"
    lines = [
        f"{report['model']} at {report['input'][0]}x{report['input'][1]} on {report['backend']}, "
        f"{report['frames']} frames after {report['warmup']} warm-up; ms median (p90); "
        f"x plain: total / {report.get('baseline') or '-'}, the fastest plain row",
        header,
    ]
    for mode, entry in report["modes"].items():
        cells = [
            f"{entry[s]['median']:>10.2f} ({entry[s]['p90']:6.2f})" if s in entry else f"{'-':>20}"
            for s in STAGES
        ]
        ratio = f"{entry['ratio']:>9.3f}" if entry.get("ratio") is not None else f"{'-':>9}"
        lines.append(f"{mode:<{width}}" + "".join(f"{c:>20}" for c in cells) + ratio)
    return "\n".join(lines)


def time_select_prior(
    capacity: int = 128, stats: int = 27072, channels: int = 64, m: int = 4, repeats: int = 500
) -> float:
    """Median seconds of one select + prior on a full bank of random entries (the per-frame bank
    cost outside the graphs). Defaults: ResNet-50 + FCN (S = 27,072), C = 64, Q = 128, M = 4."""
    import time

    rng = np.random.default_rng(0)
    layout = StatLayout.from_channels([("bn", stats, False)])
    source = SourceStats.from_layout(layout, np.abs(rng.normal(size=(2, stats))))
    bank = StyleBank(BankOptions(m, capacity), source)
    for _ in range(capacity):
        bank.add(np.abs(rng.normal(size=(2, channels))), np.abs(rng.normal(size=(2, stats))))
    probe = np.abs(rng.normal(size=(2, channels))).astype(np.float32)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        bank.prior(bank.select(probe))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


if __name__ == "__main__":  # python -m edgedg_runtime.benchmark: the bank's per-frame cost
    print(f"select + prior: {time_select_prior() * 1e3:.3f} ms per frame (median)")
