"""Which norm mode when: `source`, per-frame TN (`target`) and the style bank (`sib`) on the
stream conditions where a bank could earn (or lose) its place, scored with the PyTorch reference.

Every scenario is a sequence of frames at the model's input size; only labelled frames are scored
(mIoU from the confusion matrix of the scored frames, mean +- std over the paper's stream seeds):

- ``steady``: the targets mixed into one shuffled stream (the ordinary case).
- ``degenerate``: the same stream with a black, white or lens-covered frame after every third
  frame; the real frames are scored (does the bank carry the bad frames' statistics forward?).
- ``over-exposed``: every fourth frame over-exposed (x 2.5 + 40, clipped); those are scored.
- ``scene-cut``: blocks of 8 frames of one target, then of the other (a tunnel exit: night to
  day-like), alternating; the first 3 frames after each cut are scored.
- ``small-input``: the steady stream at a very small input (``small`` pixels square): per-frame
  statistics of the deep, few-pixel maps are noisy.
- ``restart``: the bank saved after the first half of the stream and loaded into a new run; the
  first 5 frames after the restart are scored (for `sib`, with the persisted bank).
- ``restart, empty bank``: the same frames after a restart without a saved bank.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgedg.evaluate.stream import SEEDS, prepare, stream_order
from edgedg.metrics import confusion, scores, summarize

SCENARIOS = (
    "steady",
    "degenerate",
    "over-exposed",
    "scene-cut",
    "small-input",
    "restart",
    "restart, empty bank",
)
MODES = ("source", "target", "sib")
Frame = tuple[np.ndarray, "np.ndarray | None"]  # (uint8 BGR frame, label or None: not scored)


@dataclass(frozen=True)
class ScenarioConfig:
    """``size``: the model input (central square crop, as the paper's protocol); ``small``: the
    small-input scenario's side; ``runs`` stream seeds; ``m``, ``bank_size`` as in `edgedg eval`."""

    size: int = 64
    small: int = 32
    runs: int = 5
    m: int = 4
    bank_size: int = 128
    modes: tuple[str, ...] = MODES
    seeds: tuple[int, ...] = field(default=SEEDS)


def run_scenarios(
    model: Any, meta: Mapping[str, Any], targets: Mapping[str, Any], cfg: ScenarioConfig
) -> dict[str, Any]:
    """{scenario: {mode: summary (miou_mean, miou_std, ...)}} over ``targets`` (name -> dataset;
    two or more for the scene cuts)."""
    report: dict[str, Any] = {"config": {"size": cfg.size, "small": cfg.small, "m": cfg.m}}
    for name in SCENARIOS:
        report[name] = {}
        for mode in cfg.modes:
            per_seed = [
                scores(_score(model, meta, mode, cfg, name, targets, seed))
                for seed in cfg.seeds[: cfg.runs]
            ]
            report[name][mode] = summarize(per_seed)
    return report


def _score(model, meta, mode, cfg, scenario, targets, seed) -> np.ndarray:
    """The confusion matrix of the scored frames of one scenario run."""
    from edgedg.reference import Reference
    from edgedg_runtime.bank import BankOptions

    k = int(model.config.num_classes)
    conf = np.zeros((k, k), dtype=np.int64)
    size = cfg.small if scenario == "small-input" else cfg.size
    frames = _Frames(targets, size, seed)
    options = BankOptions(cfg.m, cfg.bank_size)
    make = lambda bank=None: Reference(model, meta, mode, options, bank)  # noqa: E731
    if scenario.startswith("restart"):
        ref = _restarted(make, frames.first_half(), persist=scenario == "restart")
        sequence = list(frames.second_half())[:5]
    else:
        ref, sequence = make(), BUILDERS[scenario](frames)
    for frame, label in sequence:
        out = ref(frame)
        if label is not None:
            conf += confusion(out["labels"][0], label, k)
    return conf


def _restarted(make: Callable, warm: Iterator[Frame], persist: bool):
    """A reference that has run over ``warm``, then restarted: with its bank saved and loaded
    (``persist``) or from scratch."""
    from edgedg_runtime.bank import BankOptions, load_bank

    ref = make()
    for frame, _ in warm:
        ref(frame)
    if not persist or ref.adapter.mode not in ("sib", "qib"):
        return make()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bank.npz")
        ref.bank.save(path)
        options = BankOptions(ref.bank.m, ref.bank.capacity)
        bank = load_bank(path, ref.adapter.source, options)
    return make(bank)


class _Frames:
    """The targets' frames, prepared at ``size``, in the shuffled order of ``seed``."""

    def __init__(self, targets: Mapping[str, Any], size: int, seed: int):
        self.targets, self.size, self.seed = list(targets.values()), size, seed
        self.order = stream_order([len(ds) for ds in self.targets], seed)

    def get(self, t: int, i: int) -> Frame:
        sample = self.targets[t][i]
        return prepare(sample["image"], sample["label"], "paper", (self.size, self.size))

    def stream(self) -> Iterator[Frame]:
        return (self.get(t, i) for t, i in self.order)

    def first_half(self) -> Iterator[Frame]:
        return (self.get(t, i) for t, i in self.order[: len(self.order) // 2])

    def second_half(self) -> Iterator[Frame]:
        return (self.get(t, i) for t, i in self.order[len(self.order) // 2 :])

    def per_target(self, t: int) -> list[int]:
        return [i for tt, i in self.order if tt == t]


def _degenerate(frames: _Frames) -> list[Frame]:
    """Black, white and lens-covered (dark, warm, faintly noisy) frames after every third frame."""
    rng = np.random.default_rng(frames.seed)
    shape = (frames.size, frames.size, 3)
    covered = np.clip(rng.normal(0, 3, shape) + np.array([12, 18, 25]), 0, 255).astype(np.uint8)
    bad = [np.zeros(shape, np.uint8), np.full(shape, 255, np.uint8), covered]
    out: list[Frame] = []
    for n, frame in enumerate(frames.stream()):
        out.append(frame)
        if n % 3 == 2:
            out.append((bad[(n // 3) % len(bad)], None))
    return out


def _over_exposed(frames: _Frames) -> list[Frame]:
    out: list[Frame] = []
    for n, (image, label) in enumerate(frames.stream()):
        if n % 4 == 3:
            bright = np.clip(image.astype(np.float32) * 2.5 + 40, 0, 255).astype(np.uint8)
            out.append((bright, label))
        else:
            out.append((image, None))
    return out


def _scene_cuts(frames: _Frames, block: int = 8, scored: int = 3) -> list[Frame]:
    """Blocks of ``block`` frames alternating between the targets; the first ``scored`` frames
    after each cut keep their labels."""
    queues = [frames.per_target(t) for t in range(len(frames.targets))]
    out: list[Frame] = []
    t = 0
    while len(queues[t]) >= block:
        first = not out
        for j in range(block):
            image, label = frames.get(t, queues[t].pop(0))
            out.append((image, None if first or j >= scored else label))
        t = (t + 1) % len(queues)
    return out


BUILDERS: dict[str, Callable[[_Frames], Sequence[Frame]]] = {
    "steady": lambda f: list(f.stream()),
    "small-input": lambda f: list(f.stream()),
    "degenerate": _degenerate,
    "over-exposed": _over_exposed,
    "scene-cut": _scene_cuts,
}


def format_scenarios(report: dict[str, Any]) -> str:
    """A table: one row per scenario, mIoU % mean +- std per mode, and sib - target."""
    modes = list(report[SCENARIOS[0]])
    head = f"{'scenario':<22}" + "".join(f"{m:>16}" for m in modes) + f"{'sib - target':>14}"
    lines = [head]
    for name in SCENARIOS:
        row = report[name]
        cells = "".join(
            f"{100 * row[m]['miou_mean']:>9.2f} +-{100 * row[m]['miou_std']:>5.2f}" for m in modes
        )
        gap = ""
        if "sib" in row and "target" in row:
            gap = f"{100 * (row['sib']['miou_mean'] - row['target']['miou_mean']):>+14.2f}"
        lines.append(f"{name:<22}{cells}{gap}")
    return "\n".join(lines)
