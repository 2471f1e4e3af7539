"""The training loop: AGG (pooled ERM) or MLDG steps, poly schedule, validation, checkpoints.

Under torchrun every rank runs this loop on its slice of the global batch (`distributed.py`).
Losses are normalised by the GLOBAL count of valid pixels, so gradients summed over ranks equal
the global-batch gradient: AGG uses DDP (which averages, so its loss is scaled by the world size);
MLDG sums its inner and outer gradients explicitly (see `mldg.py`), because DDP's reducer only
hooks ``backward()`` and MLDG needs ``torch.autograd.grad`` through the inner step.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgedg.checkpoint import (
    check_finite_weights,
    class_table,
    first_non_finite,
    load_checkpoint,
    save_checkpoint,
)
from edgedg.metrics import IGNORE
from edgedg.metrics import scores as conf_scores
from edgedg.models import create_model
from edgedg.train.config import TrainConfig
from edgedg.train.data import TrainData, data_from_config
from edgedg.train.distributed import (
    DistEnv,
    average_running_stats,
    close_distributed,
    gather_rng_states,
    init_distributed,
    local_rows,
    restore_rng_states,
    sum_over_ranks,
)
from edgedg.train.metrics_log import MetricsLog
from edgedg.train.mldg import meta_grads_and_losses, meta_split, parse_split
from edgedg.train.rundir import check_out_dir, remove_orphans
from edgedg.train.validation import validation_confusion
from edgedg_runtime.errors import CheckpointError, TrainingError


def seg_loss(env: DistEnv, scale: float = 1.0) -> Callable[[Tensor, Tensor], Tensor]:
    """Cross-entropy summed over this rank's valid pixels / the global valid count, x ``scale``.
    The statistic is computed in float32 whatever the autocast dtype of the logits."""

    def loss(logits: Tensor, labels: Tensor) -> Tensor:
        ce = F.cross_entropy(logits.float(), labels, ignore_index=IGNORE, reduction="sum")
        count = sum_over_ranks((labels != IGNORE).sum(), env).clamp(min=1)
        return ce * (scale / count)

    return loss


def stopped(cfg: TrainConfig, what: str) -> TrainingError:
    """The error that stops a run at a non-finite value, saying what the run directory keeps."""
    last = Path(cfg.out) / "last.pt"
    kept = (
        f"{last} and best.pt keep the last good model: resume from it with a lower --lr"
        if last.exists()
        else "no checkpoint was written: start again with a lower --lr"
    )
    return TrainingError(f"{what}: training stopped; {kept}")


def poly_lr(base: float, step: int, total: int, power: float) -> float:
    return base * (1.0 - step / total) ** power


class Stepper:
    """One optimisation step of the configured method on this rank's rows of a global batch."""

    def __init__(self, cfg: TrainConfig, model: nn.Module, env: DistEnv, num_domains: int):
        self.cfg, self.model, self.env, self.num_domains = cfg, model, env, num_domains
        self.optimizer = torch.optim.SGD(
            model.parameters(),
            lr=cfg.optim.lr,
            momentum=cfg.optim.momentum,
            weight_decay=cfg.optim.weight_decay,
        )
        self.mldg = cfg.method.method == "mldg"
        self.split = parse_split(cfg.method.meta_split, num_domains) if self.mldg else None
        amp = cfg.use_amp(env.device.type)
        self.autocast = lambda: torch.autocast(env.device.type, torch.bfloat16, enabled=amp)
        self.net: nn.Module = model
        if env.active and not self.mldg:
            from torch.nn.parallel import DistributedDataParallel

            ids = [env.device.index] if env.device.type == "cuda" else None
            self.net = DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)

    def train_batch(self, step: int, batch: tuple[Tensor, Tensor, Tensor]) -> dict[str, float]:
        images, labels, domains = (
            t.to(self.env.device, non_blocking=True)
            for t in local_rows(batch, self.num_domains, self.env)
        )
        lr = poly_lr(self.cfg.optim.lr, step, self.cfg.iters, self.cfg.optim.poly_power)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        record = (
            self._mldg(step, images, labels, domains) if self.mldg else self._agg(images, labels)
        )
        self._check_finite(step + 1, record["loss"])
        self.optimizer.step()
        record["lr"] = lr
        return record

    def _check_finite(self, iteration: int, loss: float) -> None:
        """Stop before a non-finite loss or gradient reaches the weights. Every rank sees the
        same values (losses summed, gradients reduced), so every rank stops."""
        if not math.isfinite(loss):
            raise stopped(self.cfg, f"iteration {iteration}: the loss is {loss}")
        grads = {n: p.grad for n, p in self.model.named_parameters() if p.grad is not None}
        bad = first_non_finite(grads)
        if bad is not None:
            raise stopped(self.cfg, f"iteration {iteration}: the gradient of {bad} is not finite")

    def _agg(self, images: Tensor, labels: Tensor) -> dict[str, float]:
        world = self.env.world
        with self.autocast():
            logits = self.net(images)
        loss = seg_loss(self.env, scale=world)(logits, labels)  # DDP averages over ranks
        loss.backward()
        return {"loss": float(sum_over_ranks(loss.detach(), self.env)) / world}

    def _mldg(self, step: int, images: Tensor, labels: Tensor, domains: Tensor) -> dict[str, float]:
        m = self.cfg.method
        train_ids, test_ids = meta_split(self.num_domains, step, self.cfg.seed, self.split)
        is_train = torch.isin(domains, torch.tensor(train_ids, device=domains.device))
        with self.autocast():
            grads, loss_ds, loss_dg = meta_grads_and_losses(
                self.model,
                seg_loss(self.env),
                (images[is_train], labels[is_train]),
                (images[~is_train], labels[~is_train]),
                m.inner_lr,
                m.alpha,
                m.order,
                allreduce=self.env.active,
            )
        for p, g in zip(self.model.parameters(), grads, strict=True):
            p.grad = g
        ds = float(sum_over_ranks(loss_ds, self.env))
        dg = float(sum_over_ranks(loss_dg, self.env))
        return {"loss": ds + m.alpha * dg, "loss_ds": ds, "loss_dg": dg}


@dataclass
class TrainResult:
    run_dir: Path
    iteration: int
    best_score: float | None
    losses: list[float]
    is_main: bool = True  # False on torchrun ranks other than 0


def _meta(cfg: TrainConfig, data: TrainData, iteration: int, score: float | None) -> dict:
    from edgedg import __version__
    from edgedg.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    classes, colors = class_table()
    meta: dict[str, Any] = {
        "model": {
            "name": cfg.model.backbone,
            "num_classes": cfg.model.num_classes,
            "output_stride": cfg.model.output_stride,
            "head": cfg.model.head,
        },
        "classes": classes[: cfg.model.num_classes],
        "colors": colors[: cfg.model.num_classes],
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "imgsz": [int(x) for x in data.imgsz],
        "method": cfg.method.method,
        "args": cfg.to_dict(),
        "version": __version__,
        "iteration": iteration,
        "oracle_selection": data.oracle,
        "domains": list(data.domains),
    }
    if score is not None:
        meta["val_miou"] = score
    return meta


class Run:
    """State shared by the loop's phases: model, stepper, logging, best score."""

    def __init__(self, cfg: TrainConfig, data: TrainData, env: DistEnv):
        self.cfg, self.data, self.env = cfg, data, env
        self.dir = Path(cfg.out)
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        m = cfg.model
        model = create_model(m.backbone, m.num_classes, m.output_stride, m.head, m.pretrained)
        self.model = model.to(env.device).train()
        torch.manual_seed(cfg.seed + env.rank)  # independent dropout masks per rank
        self.stepper = Stepper(cfg, self.model, env, len(data.domains))
        self.start, self.best = 0, -math.inf
        if cfg.resume:
            self._resume(cfg.resume)
        self.log = None
        if env.is_main:
            self.dir.mkdir(parents=True, exist_ok=True)
            remove_orphans(self.dir)
            resume_from = self.start if cfg.resume else None
            self.log = MetricsLog(self.dir, cfg.tensorboard, resume_from)

    def _resume(self, path: str) -> None:
        ckpt = load_checkpoint(path, device="cpu")
        extra = ckpt.get("extra_state") or {}
        if ckpt.get("optimizer") is None or "iteration" not in extra:
            raise CheckpointError(f"{path} holds no run state to resume: use RUN/last.pt")
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as exc:
            raise CheckpointError(
                f"{path} was trained with another model ({ckpt['meta']['model']}): resume with "
                f"the same --backbone/--head ({str(exc).splitlines()[0]})"
            ) from None
        check_finite_weights(ckpt["model"], path)
        self.stepper.optimizer.load_state_dict(ckpt["optimizer"])
        self.start, self.best = int(extra["iteration"]), float(extra.get("best_score", -math.inf))
        if not restore_rng_states(extra.get("rng", {}), self.env) and self.env.is_main:
            warnings.warn(
                f"{path} was saved by another number of processes: the dropout masks will not "
                "repeat an uninterrupted run's",
                stacklevel=2,
            )

    def validate(self, iteration: int) -> float | None:
        """Mean over validation sets of their mIoU (main rank), None without validation sets."""
        if not self.data.val_sets:
            return None
        amp = self.cfg.use_amp(self.env.device.type)
        scores = {}
        for name, samples in self.data.val_sets.items():
            conf = validation_confusion(
                self.model, samples(), self.cfg.model.num_classes, self.env.device, amp
            )
            scores[name] = conf_scores(conf)["miou"]
        score = float(sum(scores.values()) / len(scores))
        self.log.write(
            {"iter": iteration, "val_miou": score, **{f"val/{k}": v for k, v in scores.items()}}
        )
        return score

    def checkpoint(self, iteration: int) -> None:
        """Average running stats, validate, write RUN/last.pt (and RUN/best.pt when better)."""
        average_running_stats(self.model, self.env)
        bad = first_non_finite(self.model.state_dict())
        if bad is not None:  # an lr that made finite gradients overshoot: never saved
            raise stopped(
                self.cfg, f"the weights after iteration {iteration} are not finite ({bad})"
            )
        rng = gather_rng_states(self.env)  # collective: every rank takes part
        if self.env.is_main:
            score = self.validate(iteration)
            better = score is None or score > self.best
            if score is not None and better:
                self.best = score
            extra = {"iteration": iteration, "rng": rng, "best_score": self.best}
            meta = _meta(self.cfg, self.data, iteration, score)
            save_checkpoint(self.dir / "last.pt", self.model, meta, self.stepper.optimizer, extra)
            if better:
                save_checkpoint(self.dir / "best.pt", self.model, meta)
        if self.env.active:
            import torch.distributed as dist

            dist.barrier()


def _progress(run: Run):
    from tqdm import tqdm

    return tqdm(
        total=run.cfg.iters,
        initial=run.start,
        disable=not run.env.is_main,
        desc=run.cfg.method.method,
        dynamic_ncols=True,
    )


def run_loop(cfg: TrainConfig, data: TrainData, env: DistEnv) -> TrainResult:
    """Train from the configured state to ``cfg.iters`` on this rank."""
    run = Run(cfg, data, env)
    losses: list[float] = []
    bar = _progress(run)
    try:
        steps = range(run.start, cfg.iters)
        for step, batch in zip(steps, data.batches(run.start), strict=False):
            record = run.stepper.train_batch(step, batch)
            losses.append(record["loss"])
            it = step + 1
            if run.log is not None and (it % cfg.log_every == 0 or it == cfg.iters):
                run.log.write({"iter": it, **record})
            bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}", refresh=False)
            bar.update(1)
            if it % cfg.save_every == 0 or it == cfg.iters:
                run.checkpoint(it)
    finally:
        bar.close()
        if run.log is not None:
            run.log.close()
    best = None if run.best == -math.inf else run.best
    return TrainResult(run.dir, cfg.iters, best, losses, env.is_main)


def train(cfg: TrainConfig, data: TrainData | None = None) -> TrainResult:
    """Train AGG or MLDG as configured (joins a torchrun process group when launched by one).

    ``data`` defaults to the datasets named in ``cfg.data``; pass a `TrainData` to train from
    other sources (tests, benchmarks).
    """
    cfg.validate()
    check_out_dir(cfg.out, cfg.resume, cfg.overwrite)
    env = init_distributed(cfg.device)
    try:
        return run_loop(cfg, data if data is not None else data_from_config(cfg), env)
    finally:
        close_distributed(env)
