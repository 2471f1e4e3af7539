"""`edgedg train`: AGG or MLDG over several source domains (also under torchrun)."""

from __future__ import annotations

import click

from edgedg.model_names import BACKBONE_NAMES, HEAD_NAMES
from edgedg_runtime.cli_types import NON_NEGATIVE, POSITIVE, FiniteFloat


@click.command("train", short_help="Train AGG or MLDG over several source domains.")
@click.option(
    "--source",
    "sources",
    multiple=True,
    required=True,
    metavar="FORMAT:PATH",
    help="A source domain (repeat): cityscapes|gta5|synthia|idd|mapillary:PATH.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--method", type=click.Choice(["mldg", "agg"]), default="mldg", show_default=True)
@click.option(
    "--backbone", type=click.Choice(BACKBONE_NAMES), default="resnet50", show_default=True
)
@click.option("--head", type=click.Choice(HEAD_NAMES), default="fcn", show_default=True)
@click.option("--output-stride", type=click.Choice(["8", "16"]), default="8", show_default=True)
@click.option("--iters", type=POSITIVE, default=45_000, show_default=True)
@click.option(
    "--batch-per-domain",
    type=POSITIVE,
    default=8,
    show_default=True,
    help="Images per domain per step (global: split across torchrun processes).",
)
@click.option("--crop", type=click.IntRange(min=8), default=600, show_default=True)
@click.option(
    "--long-side", type=click.IntRange(min=8), default=None, help="Shrink source images on load."
)
@click.option(
    "--meta-split",
    default="random",
    show_default=True,
    help="'random' (published code) or A:B (first A sources are meta-train).",
)
@click.option(
    "--order",
    type=click.Choice(["1", "2"]),
    default="1",
    show_default=True,
    help="MLDG: 1 = published code (first order), 2 = through the inner step (paper).",
)
@click.option("--inner-lr", type=FiniteFloat(min=0), default=1e-3, show_default=True)
@click.option(
    "--alpha", type=FiniteFloat(min=0), default=1.0, show_default=True, help="Meta-test weight."
)
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=5e-3, show_default=True)
@click.option("--resume", type=click.Path(dir_okay=False), default=None, help="RUN/last.pt")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Start over in an --out that holds a run (replaces its best.pt and metrics.jsonl).",
)
@click.option(
    "--pretrained",
    type=click.Path(dir_okay=False),
    default=None,
    help="torchvision-format ImageNet state dict for the backbone.",
)
@click.option(
    "--val",
    "val",
    multiple=True,
    metavar="FORMAT:PATH",
    help="Validate on this TARGET instead of held-out sources (oracle selection).",
)
@click.option(
    "--val-fraction",
    type=FiniteFloat(0, 1, max_open=True),
    default=0.05,
    show_default=True,
    help="Share of each source held out for validation (0: none).",
)
@click.option("--workers", type=NON_NEGATIVE, default=2, show_default=True)
@click.option("--save-every", type=POSITIVE, default=1000, show_default=True)
@click.option("--seed", type=NON_NEGATIVE, default=0, show_default=True)
@click.option("--amp/--no-amp", default=None, help="bf16 autocast (default: on CUDA only).")
@click.option("--tensorboard", is_flag=True, help="Also log to RUN/tb (needs tensorboard).")
@click.option("--device", default="auto", show_default=True, help="auto|cpu|cuda")
def cli(**options) -> None:
    """Train AGG or MLDG. Under `torchrun --nproc-per-node N -m edgedg train ...` it runs DDP.

    Exit codes: 0 done; 1 refused (bad data, checkpoint or setting), or stopped at the first
    non-finite loss, gradient or weight (RUN/last.pt and best.pt keep the last good model);
    2 usage error (an option out of range)."""
    from edgedg.train import (
        DataOptions,
        MethodOptions,
        ModelOptions,
        OptimOptions,
        TrainConfig,
        train,
    )

    o = options
    cfg = TrainConfig(
        out=o["out"],
        iters=o["iters"],
        model=ModelOptions(
            backbone=o["backbone"],
            head=o["head"],
            output_stride=int(o["output_stride"]),
            pretrained=o["pretrained"],
        ),
        optim=OptimOptions(lr=o["lr"]),
        method=MethodOptions(
            method=o["method"],
            meta_split=o["meta_split"],
            order=int(o["order"]),
            inner_lr=o["inner_lr"],
            alpha=o["alpha"],
        ),
        data=DataOptions(
            sources=list(o["sources"]),
            val=list(o["val"]),
            batch_per_domain=o["batch_per_domain"],
            crop=o["crop"],
            long_side=o["long_side"],
            val_fraction=o["val_fraction"],
            workers=o["workers"],
        ),
        save_every=o["save_every"],
        seed=o["seed"],
        amp=o["amp"],
        tensorboard=o["tensorboard"],
        resume=o["resume"],
        overwrite=o["overwrite"],
        device=o["device"],
    )
    result = train(cfg)
    if result.is_main:
        best = "n/a" if result.best_score is None else f"{result.best_score:.4f}"
        click.echo(
            f"done: {result.iteration} iterations, best val mIoU {best}, "
            f"checkpoints in {result.run_dir}"
        )
