"""`edgedg train`: AGG or MLDG over several source domains (also under torchrun)."""

from __future__ import annotations

import click

from edgedg.model_names import BACKBONE_NAMES, HEAD_NAMES


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
    "--backbone",
    default="resnet50",
    show_default=True,
    help=f"{'|'.join(BACKBONE_NAMES)}.",
)
@click.option("--head", default="fcn", show_default=True, help=f"{'|'.join(HEAD_NAMES)}.")
@click.option("--output-stride", type=click.Choice(["8", "16"]), default="8", show_default=True)
@click.option("--iters", type=int, default=45_000, show_default=True)
@click.option(
    "--batch-per-domain",
    type=int,
    default=8,
    show_default=True,
    help="Images per domain per step (global: split across torchrun processes).",
)
@click.option("--crop", type=int, default=600, show_default=True)
@click.option("--long-side", type=int, default=None, help="Shrink source images on load.")
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
@click.option("--inner-lr", type=float, default=1e-3, show_default=True)
@click.option("--alpha", type=float, default=1.0, show_default=True, help="Meta-test weight.")
@click.option("--lr", type=float, default=5e-3, show_default=True)
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
    type=float,
    default=0.05,
    show_default=True,
    help="Share of each source held out for validation (0: none).",
)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--save-every", type=int, default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--amp/--no-amp", default=None, help="bf16 autocast (default: on CUDA only).")
@click.option("--tensorboard", is_flag=True, help="Also log to RUN/tb (needs tensorboard).")
@click.option("--device", default="auto", show_default=True, help="auto|cpu|cuda")
def cli(**options) -> None:
    """Train AGG or MLDG. Under `torchrun --nproc-per-node N -m edgedg train ...` it runs DDP."""
    from edgedg.train import DataOptions, MethodOptions, ModelOptions, TrainConfig, train

    cfg = TrainConfig(
        out=options["out"],
        iters=options["iters"],
        save_every=options["save_every"],
        seed=options["seed"],
        amp=options["amp"],
        tensorboard=options["tensorboard"],
        resume=options["resume"],
        overwrite=options["overwrite"],
        device=options["device"],
        model=ModelOptions(
            options["backbone"],
            options["head"],
            int(options["output_stride"]),
            pretrained=options["pretrained"],
        ),
        method=MethodOptions(
            options["method"],
            options["meta_split"],
            int(options["order"]),
            options["inner_lr"],
            options["alpha"],
        ),
        data=DataOptions(
            list(options["sources"]),
            list(options["val"]),
            options["batch_per_domain"],
            options["crop"],
            options["long_side"],
            options["val_fraction"],
            workers=options["workers"],
        ),
    )
    cfg.optim.lr = options["lr"]
    result = train(cfg)
    if result.is_main:
        best = "n/a" if result.best_score is None else f"{result.best_score:.4f}"
        click.echo(
            f"done: {result.iteration} iterations, best val mIoU {best}, "
            f"checkpoints in {result.run_dir}"
        )
