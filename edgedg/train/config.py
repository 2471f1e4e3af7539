"""Training configuration: a few typed dataclasses, built at the edge (the CLI) and passed down.

Defaults are the method's (reference: method-facts): SGD lr 5e-3, momentum 0.9, weight decay 5e-4,
poly power 0.9 per iteration, inner lr 1e-3, 600 px crops, 8 images per domain per step. MLDG
defaults to the published code's form (first order, random meta split); ``order=2`` is the
paper's MAML form and ``meta_split="2:2"`` the paper's fixed split.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from edgedg_runtime.errors import EdgeDGError

METHODS = ("agg", "mldg")


@dataclass
class ModelOptions:
    backbone: str = "resnet50"
    head: str = "fcn"
    output_stride: int = 8
    num_classes: int = 19
    pretrained: str | None = None  # torchvision-format ImageNet state dict for the backbone


@dataclass
class OptimOptions:
    lr: float = 5e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9


@dataclass
class MethodOptions:
    method: str = "mldg"  # "agg" (pooled ERM) or "mldg"
    meta_split: str = "random"  # "random" (published code) or "A:B" (first A sources meta-train)
    order: int = 1  # 1: published code (inner gradient constant); 2: through the inner step
    inner_lr: float = 1e-3
    alpha: float = 1.0  # weight of the meta-test loss


@dataclass
class DataOptions:
    sources: list[str] = field(default_factory=list)  # "format:PATH", one domain each
    val: list[str] = field(default_factory=list)  # target "format:PATH" for validation (oracle)
    batch_per_domain: int = 8  # GLOBAL: split across torchrun ranks
    crop: int = 600
    long_side: int | None = None  # shrink source images to this long side on load
    val_fraction: float = 0.05  # held out of each source's train split for source validation
    val_max_images: int = 100  # per validation set
    workers: int = 2


@dataclass
class TrainConfig:
    out: str
    iters: int = 45_000
    model: ModelOptions = field(default_factory=ModelOptions)
    optim: OptimOptions = field(default_factory=OptimOptions)
    method: MethodOptions = field(default_factory=MethodOptions)
    data: DataOptions = field(default_factory=DataOptions)
    save_every: int = 1000
    log_every: int = 1
    seed: int = 0
    amp: bool | None = None  # None: bf16 autocast on CUDA, off on CPU
    tensorboard: bool = False
    resume: str | None = None
    overwrite: bool = False  # start over in an OUT that already holds a run (else refused)
    device: str = "auto"  # "auto", "cpu" or "cuda"

    def validate(self) -> None:
        """Refuse inconsistent settings with a message that says what to change."""
        m = self.method
        if m.method not in METHODS:
            raise EdgeDGError(f"unknown method '{m.method}'; choose one of: {', '.join(METHODS)}")
        if m.order not in (1, 2):
            raise EdgeDGError(f"--order must be 1 or 2, got {m.order}")
        if self.iters < 1 or self.save_every < 1:
            raise EdgeDGError("--iters and --save-every must be positive")
        if self.data.batch_per_domain < 1 or self.data.crop < 8:
            raise EdgeDGError("--batch-per-domain must be >= 1 and --crop >= 8")

    def use_amp(self, device_type: str) -> bool:
        """Whether training and validation run under bf16 autocast on a ``device_type`` device:
        ``amp`` when set, else on CUDA only."""
        return device_type == "cuda" if self.amp is None else self.amp

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (stored in checkpoints loaded with weights_only=True)."""
        return json.loads(json.dumps(asdict(self)))
