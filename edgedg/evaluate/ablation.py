"""The paper's ablation (Tables 3 and 5) on synthetic domains: AGG vs MLDG, each norm mode.

Three synthetic source domains train an AGG and an MLDG model; two held-out domains are the targets,
each alone (Table 3) and mixed into one stream (Table 5). The target scenes are held out too: they
are generated with another seed, so their street layouts are not the training layouts repainted.
Every row is mIoU mean +- std over the stream orders, and the gap of `sib` to `sib-exact` is
reported, never assumed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgedg.evaluate.report import write_atomic, write_json
from edgedg.evaluate.runner import EvalConfig, evaluate_model
from edgedg_runtime.errors import EdgeDGError

# (row, method, mode, source_weight)
ROWS = (
    ("AGG", "agg", "source", 0.0),
    ("AGG+TN", "agg", "target", 0.0),
    ("AGG+TN-batch", "agg", "tn-batch", 0.0),
    ("AGG+SIB", "agg", "sib", 0.0),
    ("MLDG", "mldg", "source", 0.0),
    ("MLDG+TN", "mldg", "target", 0.0),
    ("MLDG+TN-batch", "mldg", "tn-batch", 0.0),
    ("MLDG+SIB", "mldg", "sib", 0.0),
    ("MLDG+QIB", "mldg", "qib", 0.0),
    ("MLDG+SIB-exact", "mldg", "sib-exact", 0.0),
    ("MLDG+SIB+source prior", "mldg", "sib", 1.0),
)
# Daylight-like sources of very different looks; the targets are the two hardest shifts (dark,
# low contrast), as the paper's real targets are unseen cities and cameras.
SOURCES = ("sunny", "overcast", "cartoon")
TARGETS = ("night", "fog")
TARGET_SEED_OFFSET = 1000  # the targets' layout seed is seed + this: held-out scenes
CHECKPOINTS = ("best", "last")

# (folder, domain names, scenes per domain, (H, W), seed, val fraction) -> name -> "FORMAT:PATH"
Synthesize = Callable[[Path, Sequence[str], int, tuple[int, int], int, float], dict[str, str]]


@dataclass(frozen=True)
class AblationConfig:
    """Sizes of the experiment. The defaults fit < 30 min on 2 CPU cores; ``quick`` < 2 min.

    Images are ``size`` x 2 ``size``; training crops and the evaluation input are ``size`` squares
    (the paper protocol's central crop). ``train_images`` scenes per source (``source_val`` of them
    held out for checkpoint selection), ``target_images`` held-out scenes per target.
    ``checkpoint`` "best" is the source-validation choice, "last" the final weights.
    """

    out: str
    backbone: str = "tiny"
    iters: int = 1000
    lr: float = 1e-2
    size: int = 64
    train_images: int = 160
    target_images: int = 48
    source_val: float = 0.1
    batch_per_domain: int = 4
    checkpoint: str = "best"
    evaluations: int = 5
    seed: int = 0
    # stream orders, M and bank size of every row (modes, source weight and size are set per row)
    evaluation: EvalConfig = field(default_factory=EvalConfig)

    @classmethod
    def quick(cls, out: str) -> AblationConfig:
        return cls(
            out,
            iters=20,
            size=32,
            train_images=10,
            target_images=6,
            batch_per_domain=2,
            evaluation=EvalConfig(runs=2),
        )

    def check(self) -> None:
        if self.checkpoint not in CHECKPOINTS:
            raise EdgeDGError(f"--checkpoint must be one of {', '.join(CHECKPOINTS)}")
        if self.iters < 1 or self.train_images < 2 or self.target_images < 1:
            raise EdgeDGError("--iters must be >= 1, train images >= 2 and target images >= 1")
        if self.size < 32:
            raise EdgeDGError(f"--size must be at least 32 pixels, got {self.size}")


def synthesize_domains(
    root: Path, domains: Sequence[str], per_domain: int, hw: tuple[int, int], seed: int,
    val_fraction: float,
) -> dict[str, str]:  # fmt: skip
    """Cityscapes-format datasets of ``domains`` under ``root`` (``edgedg.data.synth``): the
    same ``per_domain`` scenes (layout seeds (seed, i)) painted in every domain."""
    from edgedg.data.synth import synthesize

    summary = synthesize(
        root, list(domains), per_domain, hw, "cityscapes", seed, val_fraction=val_fraction,
        progress=False,
    )  # fmt: skip
    return {name: f"cityscapes:{info['root']}" for name, info in summary["domains"].items()}


def make_domains(cfg: AblationConfig, synthesize: Synthesize = synthesize_domains) -> dict:
    """Source specs (all scenes in train) and target specs (half of the scenes in val, the split
    the targets are scored on), generated with different seeds."""
    data = Path(cfg.out) / "data"
    hw = (cfg.size, 2 * cfg.size)
    sources = synthesize(data / "sources", SOURCES, cfg.train_images, hw, cfg.seed, 0.0)
    targets = synthesize(
        data / "targets", TARGETS, 2 * cfg.target_images, hw, cfg.seed + TARGET_SEED_OFFSET, 0.5
    )
    return {"sources": sources, "targets": targets}


def run_ablation(
    cfg: AblationConfig, synthesize: Synthesize = synthesize_domains, log=print
) -> dict[str, Any]:
    """Generate the domains, train AGG and MLDG, evaluate every row single and mixed; write
    ``out/ablation.json`` and ``out/ablation.md``. Returns the report."""
    from edgedg.data import open_dataset

    cfg.check()
    start = time.perf_counter()
    out = Path(cfg.out)
    specs = make_domains(cfg, synthesize)
    targets = {name: open_dataset(specs["targets"][name], "val") for name in TARGETS}
    report: dict[str, Any] = {
        "config": asdict(cfg),
        "sources": list(SOURCES),
        "targets": {name: len(ds) for name, ds in targets.items()},
        "target_seed": cfg.seed + TARGET_SEED_OFFSET,
        "models": {},
        "rows": {},
    }
    for method in ("agg", "mldg"):
        sources = [specs["sources"][s] for s in SOURCES]
        model, meta, info = train_method(cfg, method, sources, out / "runs" / method, log)
        report["models"][method] = info
        for row, row_method, mode, weight in ROWS:
            if row_method != method:
                continue
            report["rows"][row] = evaluate_row(model, meta, targets, cfg, mode, weight)
            log(f"{row}: mixed {_fmt(report['rows'][row]['mixed'])}")
    report["gap_sib_vs_exact"] = _gap(report["rows"])
    report["seconds"] = round(time.perf_counter() - start, 1)
    write_json(out / "ablation.json", report)
    write_atomic(out / "ablation.md", format_markdown(report).encode())
    return report


def train_method(cfg: AblationConfig, method: str, sources: list[str], run_dir: Path, log):
    """Train ``method`` on ``sources``; (model, meta, info) of the configured checkpoint, where
    info holds its iteration, source-validation mIoU and the training seconds."""
    from edgedg.checkpoint import load_model
    from edgedg.train import train
    from edgedg.train.config import (
        DataOptions,
        MethodOptions,
        ModelOptions,
        OptimOptions,
        TrainConfig,
    )

    log(f"training {method.upper()} ({cfg.backbone}, {cfg.iters} iterations)")
    tcfg = TrainConfig(
        out=str(run_dir),
        iters=cfg.iters,
        model=ModelOptions(backbone=cfg.backbone),
        optim=OptimOptions(lr=cfg.lr),
        method=MethodOptions(method=method),
        data=DataOptions(
            sources=sources,
            batch_per_domain=cfg.batch_per_domain,
            crop=cfg.size,
            workers=0,
            val_fraction=cfg.source_val,
        ),
        save_every=max(1, cfg.iters // max(1, cfg.evaluations)),
        log_every=10,
        seed=cfg.seed,
        device="cpu",
    )
    start = time.perf_counter()
    result = train(tcfg)
    seconds = time.perf_counter() - start
    model, meta = load_model(Path(result.run_dir) / f"{cfg.checkpoint}.pt")
    info = {
        "checkpoint": cfg.checkpoint,
        "iteration": int(meta.get("iteration", cfg.iters)),
        "source_val_miou": meta.get("val_miou"),
        "train_seconds": round(seconds, 1),
    }
    log(f"{method.upper()}: source-val mIoU {info['source_val_miou']} at {info['iteration']}")
    return model, meta, info


def evaluate_row(model, meta, targets, cfg: AblationConfig, mode: str, weight: float) -> dict:
    """One row: each target alone and the mixed stream, {name | "mixed": summary}."""
    ecfg = replace(
        cfg.evaluation, modes=(mode,), source_weight=weight, protocol="paper", size=cfg.size
    )
    row = {}
    for name, ds in targets.items():
        row[name] = evaluate_model(model, meta, {name: ds}, ecfg)["modes"][mode]["mixed"]
    row["mixed"] = evaluate_model(model, meta, targets, ecfg)["modes"][mode]["mixed"]
    return row


def _gap(rows: dict[str, Any]) -> dict[str, float] | None:
    if "MLDG+SIB" not in rows or "MLDG+SIB-exact" not in rows:
        return None
    sib, exact = rows["MLDG+SIB"], rows["MLDG+SIB-exact"]
    return {k: sib[k]["miou_mean"] - exact[k]["miou_mean"] for k in sib}


def _fmt(entry: dict[str, Any]) -> str:
    return f"{100 * entry['miou_mean']:.2f} +- {100 * entry['miou_std']:.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def format_markdown(report: dict[str, Any]) -> str:
    """The trained models, Table 3 (each target alone) and Table 5 (the mixed stream), mIoU %."""
    cols = [c for c in report["rows"][next(iter(report["rows"]))] if c != "mixed"]
    lines = ["## Models", "", "| method | checkpoint | source-val mIoU | train s |"]
    lines.append("|---|---|---|---|")
    for method, info in report.get("models", {}).items():
        lines.append(
            f"| {method.upper()} | {info['checkpoint']} @ {info['iteration']} | "
            f"{_pct(info['source_val_miou'])} | {info['train_seconds']} |"
        )
    lines += ["", "## Single target (Table 3)", "", "| | " + " | ".join(cols) + " |"]
    lines.append("|---|" + "---|" * len(cols))
    for row, entry in report["rows"].items():
        lines.append(f"| {row} | " + " | ".join(_fmt(entry[c]) for c in cols) + " |")
    title = "## Mixed stream " + " + ".join(cols) + " (Table 5)"
    lines += ["", title, "", "| | mIoU |", "|---|---|"]
    for row, entry in report["rows"].items():
        lines.append(f"| {row} | {_fmt(entry['mixed'])} |")
    gap = report.get("gap_sib_vs_exact")
    if gap:
        parts = ", ".join(f"{k} {100 * v:+.2f}" for k, v in gap.items())
        lines += ["", f"Gap MLDG+SIB - MLDG+SIB-exact (mIoU points): {parts}"]
    return "\n".join(lines) + "\n"
