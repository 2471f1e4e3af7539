"""`edgedg check`: the exported graphs in ONNX Runtime (CPU) against the PyTorch reference.

Every norm mode of DESIGN section 2 runs on images of several synthetic domains: `source` on
plain.onnx and segment.onnx, `target`, `sib` with a non-trivial prior (the pooled frame
statistics of other images), `sib-exact` with N = max_batch (one pooled batch: `batch_mix` 1/N),
and `rig`: N = max_batch images, each with its own prior (source, target, sib, qib in turn) and
its own statistics (`batch_mix` the identity), as a camera rig runs them. The PyTorch side runs
the same arithmetic through `edgedg.norm.prior_set`. Logits are compared through an extra graph
output added in memory (the files on disk are not changed).

Two float32 implementations of a deep network differ by their own rounding: on a random-weight
resnet50 at 512x1024 in `target` mode, PyTorch float32 is 1.2e-4 away from a float64 run of the
same model, ONNX Runtime 1.2e-4 too, and the two 1.5e-4 from each other. So a row whose logits
alone miss LOGIT_TOL is judged against a float64 run of the checkpoint: it passes when the
export's distance from float64 is at most FLOAT32_FACTOR times PyTorch float32's own, plus
LOGIT_TOL (two float32 summation orders round alike but not equally: 0.9x-1.3x measured); a wrong
formula, weight or epsilon is orders of magnitude further. The table shows both distances.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import onnx
import torch
from torch import nn

from edgedg.norm import collect_frame_stats, prior_set, source_stats, stat_layout
from edgedg.reference import preprocess
from edgedg_runtime.contract import Contract, load_contract
from edgedg_runtime.errors import EdgeDGError, require

LOGIT_TOL = 1e-4  # max abs logit difference, fp32
MIN_AGREEMENT = 0.999  # share of pixels whose labels agree
STAT_RTOL = 1e-4  # frame statistics / style, relative to max(1, |reference|)
FLOAT32_FACTOR = 2.0  # float64 judge: export error <= this x PyTorch float32's error + LOGIT_TOL


@dataclass(frozen=True)
class ParityRow:
    """One comparison: graph and mode, batch size, and the measured differences."""

    graph: str
    mode: str
    n: int
    max_logit_diff: float
    label_agreement: float
    max_stat_diff: float
    # (max |export - float64|, max |PyTorch float32 - float64|) of the logits, for rows whose
    # logits alone missed LOGIT_TOL (module docstring); None when not needed
    float64: tuple[float, float] | None = None

    @property
    def logits_ok(self) -> bool:
        if self.max_logit_diff <= LOGIT_TOL:
            return True
        if self.float64 is None:
            return False
        exported, pytorch = self.float64
        return exported <= FLOAT32_FACTOR * pytorch + LOGIT_TOL

    @property
    def labels_and_stats_ok(self) -> bool:
        return self.label_agreement >= MIN_AGREEMENT and self.max_stat_diff <= STAT_RTOL

    @property
    def ok(self) -> bool:
        return self.logits_ok and self.labels_and_stats_ok

    @property
    def needs_float64(self) -> bool:
        """Only the logits missed their tolerance: worth a float64 run to tell rounding apart."""
        return self.max_logit_diff > LOGIT_TOL and self.labels_and_stats_ok


def synthetic_images(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 BGR [n, H, W, 3]: street scenes from the built-in synthetic domains, one domain after
    another, so that frame statistics differ the way real domains do."""
    from edgedg.data.synth import DOMAINS, render_scene

    names = list(DOMAINS)
    scenes = [render_scene(seed + i, (height, width), names[i % len(names)])[0] for i in range(n)]
    return np.stack(scenes)[..., ::-1].copy()


def pooled_prior(
    frames: Sequence[np.ndarray], source: np.ndarray, fixed: np.ndarray, w: float
) -> np.ndarray:
    """[3, S] prior from pooled frame statistics (float64; mean of means, variance with the
    between-frame term); fixed columns get the source statistics and w = 0."""
    stack = np.stack(frames).astype(np.float64)  # [k, 2, S]
    mu = stack[:, 0].mean(0)
    var = (stack[:, 1] + (stack[:, 0] - mu) ** 2).mean(0)
    prior = np.stack([mu, var, np.full_like(mu, w)])
    prior[:2, fixed] = source[:, fixed]
    prior[2, fixed] = 0.0
    return prior.astype(np.float32)


class _Graph:
    """An ONNX Runtime CPU session of one graph file, with `logits` exposed as an output."""

    def __init__(self, path: str):
        ort = require("onnxruntime", "export", "edgedg check")
        proto = onnx.load(path)
        names = {o.name for o in proto.graph.output}
        argmax = [n for n in proto.graph.node if n.op_type == "ArgMax"]
        if "logits" not in names and argmax:
            proto.graph.output.append(
                onnx.helper.make_tensor_value_info(argmax[0].input[0], onnx.TensorProto.FLOAT, None)
            )
            self.logits = argmax[0].input[0]
        else:
            self.logits = "logits"
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(
            proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in self.session.get_outputs()]
        out = dict(zip(names, self.session.run(names, feeds), strict=True))
        out["logits"] = out.get(self.logits, out.get("logits"))
        return out


def parity_rows(
    model_dir: str | os.PathLike,
    checkpoint: str | os.PathLike,
    seed: int = 0,
    precision: str = "fp32",
) -> list[ParityRow]:
    """`edgedg check`: the model directory against the checkpoint it was exported from."""
    from edgedg.checkpoint import load_model

    model, _ = load_model(checkpoint)
    return check_model(model_dir, model, seed=seed, precision=precision)


def check_model(
    model_dir: str | os.PathLike,
    model: nn.Module,
    num_images: int = 6,
    seed: int = 0,
    precision: str = "fp32",
) -> list[ParityRow]:
    """Compare every graph and mode; raise EdgeDGError (after measuring all) when any row is
    outside the tolerances. Returns the rows for printing (`format_table`).

    ``precision`` fp16 / int8 runs the graphs' variants of that name (the style graph without
    one runs FP32) and only MEASURES their agreement with the FP32 PyTorch reference: reduced
    precision is not held to the FP32 tolerances."""
    contract = load_contract(model_dir)
    _check_same_model(contract, model)
    model = model.eval()
    h, w = contract.input.height, contract.input.width
    m = contract.max_batch
    images = synthetic_images(max(num_images, m + 4), h, w, seed)
    if contract.input.dtype == "float32":
        images_in: np.ndarray = images.astype(np.float32)
    else:
        images_in = images
    mean, std = contract.normalization.mean, contract.normalization.std
    ref = _Reference(model, mean, std)
    graphs = {
        k: _Graph(os.path.join(model_dir, _variant(g, k, precision)))
        for k, g in contract.graphs.items()
    }
    rows = _run_modes(contract, ref, graphs, images, images_in, stat_layout(model).fixed_mask())
    rows.append(_style_row(graphs["style"], ref, images, images_in))
    bad = [r for r in rows if not r.ok]
    if bad and precision == "fp32":
        raise EdgeDGError(
            "exported graphs disagree with PyTorch:\n"
            + format_table(rows)
            + "\nre-export the model directory; if it persists, report it with this table"
        )
    return rows


def _variant(info, graph: str, precision: str) -> str:
    """The file of ``graph`` in ``precision``: its variant, FP32 for a style graph without one."""
    if precision == "fp32" or (graph == "style" and precision not in info.variants):
        return info.file
    if precision not in info.variants:
        raise EdgeDGError(
            f"the model directory has no {precision} variant of '{graph}': re-export it with "
            f"`edgedg export CHECKPOINT --out MODEL_DIR --{precision}`"
        )
    return info.variants[precision]


def _check_same_model(contract: Contract, model: nn.Module) -> None:
    layout = stat_layout(model)
    if layout.hash() != contract.stat_layout.hash():
        raise EdgeDGError(
            "the checkpoint's norm layers differ from the model directory's stat layout: "
            "pass the checkpoint this directory was exported from"
        )


class _Reference:
    """The PyTorch model on uint8 BGR images, with an optional prior; returns numpy arrays."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]):
        self.model, self.mean, self.std = model, mean, std
        self.source = source_stats(model).numpy()
        self._model64: nn.Module | None = None

    @torch.no_grad()
    def logits64(self, images: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        """The logits of a float64 copy of the model (made on first use)."""
        if self._model64 is None:
            self._model64 = copy.deepcopy(self.model).double().eval()
        x = preprocess(images, self.mean, self.std).double()
        if prior is None:
            return self._model64(x).numpy()
        with prior_set(self._model64, torch.from_numpy(prior).double(), _mix_of(prior, True)):
            return self._model64(x).numpy()

    @torch.no_grad()
    def __call__(self, images: np.ndarray, prior: np.ndarray | None = None):
        x = preprocess(images, self.mean, self.std)
        if prior is None:
            return self.model(x).numpy(), None
        with prior_set(self.model, torch.from_numpy(prior), _mix_of(prior)):
            logits = self.model(x).numpy()
            return logits, collect_frame_stats(self.model).numpy()

    @torch.no_grad()
    def style(self, images: np.ndarray) -> np.ndarray:
        f = self.model.stem(preprocess(images, self.mean, self.std)).float()
        return torch.stack([f.mean((2, 3)), f.var((2, 3), unbiased=False)], 1).numpy()


def _mix_of(prior: np.ndarray, double: bool = False) -> torch.Tensor | None:
    """The identity mixing of a per-image [N, 3, S] prior (None for a pooled [3, S] one)."""
    if prior.ndim == 2:
        return None
    eye = torch.eye(prior.shape[0])
    return eye.double() if double else eye


def graph_feeds(images: np.ndarray, prior: np.ndarray) -> dict[str, np.ndarray]:
    """segment.onnx feeds: a [3, S] prior is one pooled batch (every image gets it, `batch_mix`
    1/N); an [N, 3, S] prior gives each image its own statistics (`batch_mix` the identity)."""
    n = images.shape[0]
    if prior.ndim == 2:
        priors = np.broadcast_to(prior, (n, *prior.shape))
        mix = np.full((n, n), 1.0 / n, np.float32)
    else:
        priors, mix = prior, np.eye(n, dtype=np.float32)
    return {"image": images, "norm_prior": np.ascontiguousarray(priors), "batch_mix": mix}


def _run_modes(contract, ref, graphs, images, images_in, fixed) -> list[ParityRow]:
    src = ref.source
    source_prior = pooled_prior([src], src, fixed, 0.0)
    target_prior = pooled_prior([src], src, fixed, 1.0)
    others = [ref(images[i : i + 1], target_prior)[1] for i in range(1, 4)]
    sib_prior = pooled_prior(others, src, fixed, 1.0 / (len(others) + 1))
    qib_prior = pooled_prior(others[:2], src, fixed, 1.0 / 3)
    m = contract.max_batch
    rig = [source_prior, target_prior, sib_prior, qib_prior]
    rig_prior = np.stack([rig[i % len(rig)] for i in range(m)])
    cases: list[tuple[str, str, slice, np.ndarray | None]] = [
        ("plain", "source", slice(0, 1), None),
        ("segment", "source", slice(0, 1), source_prior),
        ("segment", "target", slice(0, 1), target_prior),
        ("segment", "target", slice(4, 5), target_prior),
        ("segment", "sib", slice(0, 1), sib_prior),
        ("segment", "sib-exact", slice(0, m), target_prior),
        ("segment", "rig", slice(2, 2 + m), rig_prior),
    ]
    rows = []
    for graph, mode, sl, prior in cases:
        feeds = {"image": images_in[sl]}
        if prior is not None:
            feeds = graph_feeds(images_in[sl], prior)
        out = graphs[graph](feeds)
        logits, stats = ref(images[sl], prior)
        if stats is not None and stats.ndim == 2:  # pooled: every image's row holds them
            stats = np.broadcast_to(stats, out["frame_stats"].shape)
        row = _compare(graph, mode, out, logits, stats)
        if row.needs_float64:
            truth = ref.logits64(images[sl], prior)
            exported = float(np.abs(out["logits"] - truth).max())
            row = replace(row, float64=(exported, float(np.abs(logits - truth).max())))
        rows.append(row)
    return rows


def _compare(graph: str, mode: str, out: dict, logits: np.ndarray, stats) -> ParityRow:
    agree = float(np.mean(out["labels"].astype(np.int64) == logits.argmax(1)))
    stat_diff = 0.0 if stats is None else _rel_diff(out["frame_stats"], stats)
    return ParityRow(
        graph, mode, logits.shape[0], float(np.abs(out["logits"] - logits).max()), agree, stat_diff
    )


def _style_row(graph: Callable, ref: _Reference, images, images_in) -> ParityRow:
    out = graph({"image": images_in[:3]})["style"]
    return ParityRow("style", "-", 3, 0.0, 1.0, _rel_diff(out, ref.style(images[:3])))


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def format_agreement(rows: Sequence[ParityRow], precision: str) -> str:
    """The reduced-precision graphs' agreement with the FP32 PyTorch reference, per graph and
    mode: labels agreeing (% of pixels), max |logit| and relative statistic error."""
    lines = [
        f"{precision} graphs vs the FP32 PyTorch reference (measured, not held to FP32 tolerances)",
        f"{'graph':8} {'mode':10} {'N':>2}  {'labels agree':>12}  {'max|dlogit|':>12}  "
        f"{'max rel dstat':>13}",
    ]
    for r in rows:
        lines.append(
            f"{r.graph:8} {r.mode:10} {r.n:>2}  {r.label_agreement:12.2%}  "
            f"{r.max_logit_diff:12.3e}  {r.max_stat_diff:13.3e}"
        )
    return "\n".join(lines)


def format_table(rows: Sequence[ParityRow]) -> str:
    """A fixed-width table of the comparisons with the tolerances in the header."""
    head = (
        f"{'graph':8} {'mode':10} {'N':>2}  {'max|dlogit|':>12}  {'labels agree':>12}  "
        f"{'max rel dstat':>13}  ok    (tol: logits {LOGIT_TOL:g}, labels {MIN_AGREEMENT:.1%}, "
        f"stats {STAT_RTOL:g})"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r.graph:8} {r.mode:10} {r.n:>2}  {r.max_logit_diff:12.3e}  "
            f"{r.label_agreement:12.4%}  {r.max_stat_diff:13.3e}  {'yes' if r.ok else 'NO'}"
        )
        if r.float64 is not None:
            lines.append(
                f"{'':22}vs float64: export {r.float64[0]:.3e}, PyTorch float32 {r.float64[1]:.3e}"
            )
    if any(r.float64 is not None for r in rows):
        lines.append(
            "rows with 'vs float64': their logits missed the tolerance, so a float64 run of the "
            f"checkpoint judged them: ok when the export's distance is at most {FLOAT32_FACTOR:g}x "
            f"PyTorch float32's own + {LOGIT_TOL:g} (float32 rounding, not an export error)"
        )
    return "\n".join(lines)
