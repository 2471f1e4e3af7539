"""The demo's settings: its sizes (`DemoConfig`), the methods it trains, the modes it streams."""

from __future__ import annotations

from dataclasses import dataclass

from edgedg_runtime.errors import EdgeDGError

METHODS = ("agg", "mldg")
MODES = ("source", "target", "sib")


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo. The defaults run in under 3 minutes on 2 CPU cores (162 s measured;
    several times that on a loaded machine) and learn something visible; :meth:`quick` runs in
    seconds and learns next to nothing."""

    out: str
    sources: tuple[str, ...] = ("sunny", "overcast", "cartoon")
    target: str = "night"
    size: tuple[int, int] = (128, 256)
    per_domain: int = 60
    backbone: str = "tiny"
    iters: int = 400
    crop: int = 128
    batch_per_domain: int = 4
    lr: float = 1e-2
    video_frames: int = 60
    bench_frames: int = 30
    seed: int = 0
    label: str = "full"

    @classmethod
    def quick(cls, out: str) -> DemoConfig:
        """A smoke run: tiny images, a few iterations; its mIoU is near chance."""
        return cls(
            out, size=(64, 128), per_domain=8, iters=12, crop=64, batch_per_domain=2,
            video_frames=12, bench_frames=5, label="quick",
        )  # fmt: skip

    def check(self) -> None:
        """Refuse settings the pipeline cannot run, with what to change."""
        if self.target in self.sources:
            raise EdgeDGError(f"the target domain '{self.target}' must not be a source domain")
        if len(self.sources) < 2:
            raise EdgeDGError("MLDG needs at least two source domains")
        if min(self.iters, self.per_domain, self.video_frames, self.bench_frames) < 1:
            raise EdgeDGError("iterations, scenes, video frames and bench frames must be >= 1")
