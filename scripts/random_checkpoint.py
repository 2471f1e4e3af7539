"""Write a randomly initialised checkpoint of any registered model, for latency benchmarks.

    python scripts/random_checkpoint.py resnet50 r50.pt --imgsz 512x1024

Latency does not depend on the weights; accuracy numbers must come from a trained checkpoint.
"""

from __future__ import annotations

import argparse

import torch

from edgedg import __version__
from edgedg.checkpoint import class_table, save_checkpoint
from edgedg.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from edgedg.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backbone")
    parser.add_argument("out")
    parser.add_argument("--head", default="fcn")
    parser.add_argument("--output-stride", type=int, default=8)
    parser.add_argument("--imgsz", default="256x512", help="default export size, HxW")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model = create_model(args.backbone, 19, args.output_stride, args.head)
    names, colors = class_table()
    height, width = (int(v) for v in args.imgsz.lower().split("x"))
    meta = {
        "model": dict(
            name=args.backbone, num_classes=19, output_stride=args.output_stride, head=args.head
        ),
        "classes": names,
        "colors": colors,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "imgsz": [height, width],
        "method": "random-init",
        "args": {"seed": args.seed},
        "version": __version__,
        "iteration": 0,
        "oracle_selection": False,
    }
    save_checkpoint(args.out, model, meta)
    print(f"wrote {args.out} ({args.backbone}, {args.head}, os {args.output_stride})")


if __name__ == "__main__":
    main()
