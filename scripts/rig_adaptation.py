"""Per-camera adaptation in a rig: mIoU per camera of differently styled cameras, per norm mode.

Each camera is a labelled frame folder as `edgedg data synth --video` writes it (DIR/frames/*.png
and DIR/labels/*.png, trainIds of the same names). All cameras run in one `Rig` on ONNX Runtime,
one frame of each per tick, in file order (the video's temporal order) or, with ``--seeds``, in a
shuffled order per seed. Modes: ``source``, ``target``, ``sib`` (a bank per camera) and
``sib-shared`` (one StyleBank object given to the Rig for every camera). Prints a markdown table:
mIoU % per camera (one confusion matrix over the camera's frames) and their mean; mean +- std over
the seeds where there are several.

    python scripts/rig_adaptation.py MODEL_DIR --camera sunny=D/video/sunny \
        --camera night=D/video/night --seeds 0,1,2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

MODES = ("source", "target", "sib", "sib-shared")


def labelled_frames(folder: str) -> list[tuple[Path, Path]]:
    """(frame, label) paths of DIR/frames/*.png in name order, each with DIR/labels/<name>."""
    frames = sorted((Path(folder) / "frames").glob("*.png"))
    if not frames:
        raise SystemExit(f"no frames under {folder}/frames")
    pairs = [(f, Path(folder) / "labels" / f.name) for f in frames]
    missing = [str(lab) for _, lab in pairs if not lab.is_file()]
    if missing:
        raise SystemExit(f"no label image for {len(missing)} frames, e.g. {missing[0]}")
    return pairs


def shared_bank(model_dir: str, options):
    """One empty StyleBank tied to the model's source statistics, as a Rig would start one."""
    from edgedg_runtime.bank import SourceStats, StyleBank
    from edgedg_runtime.contract import load_contract, load_source_stats

    contract = load_contract(model_dir)
    stats, style = load_source_stats(model_dir, contract)
    return StyleBank(options, SourceStats.from_layout(contract.stat_layout, stats, style))


def run_rig(model_dir: str, cameras: dict, mode: str, m: int, threads: int | None) -> dict:
    """mIoU of each camera after streaming its (frame, label) list through one Rig in ``mode``."""
    import cv2

    from edgedg.metrics import confusion, scores
    from edgedg_runtime.bank import BankOptions
    from edgedg_runtime.rig import Rig

    options = BankOptions(m=m)
    norm = "sib" if mode == "sib-shared" else mode
    banks = {}
    if mode == "sib-shared":
        bank = shared_bank(model_dir, options)
        banks = {name: bank for name in cameras}
    names = list(cameras)
    with Rig(model_dir, names, "ort", norm, options, banks, threads) as rig:
        k = len(rig.core.class_names)
        conf = {name: np.zeros((k, k), dtype=np.int64) for name in names}
        for tick in range(max(len(v) for v in cameras.values())):
            now = {n: cameras[n][tick] for n in names if tick < len(cameras[n])}
            results = rig({n: cv2.imread(str(f)) for n, (f, _) in now.items()})
            for name, (_, label) in now.items():
                truth = cv2.imread(str(label), cv2.IMREAD_UNCHANGED)
                conf[name] += confusion(results[name].labels, truth, k)
    return {name: 100 * scores(c)["miou"] for name, c in conf.items()}


def shuffled(cameras: dict, seed: int | None) -> dict:
    """Each camera's frames in file order (seed None) or permuted by ``seed``."""
    if seed is None:
        return cameras
    rng = np.random.default_rng(seed)
    return {n: [pairs[i] for i in rng.permutation(len(pairs))] for n, pairs in cameras.items()}


def table(rows: dict, names: list[str]) -> str:
    """Markdown: one row per mode, one column per camera and the mean; mean +- std over runs."""

    def cell(values: list[float]) -> str:
        v = np.asarray(values)
        return f"{v.mean():.2f}" if len(v) == 1 else f"{v.mean():.2f} +- {v.std():.2f}"

    lines = [f"| mode | {' | '.join(names)} | mean |", "|---" * (len(names) + 2) + "|"]
    for mode, runs in rows.items():
        per_cam = [cell([r[n] for r in runs]) for n in names]
        mean = cell([float(np.mean([r[n] for n in names])) for r in runs])
        lines.append(f"| `{mode}` | {' | '.join(per_cam)} | {mean} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--camera", action="append", required=True, help="NAME=DIR (repeat)")
    parser.add_argument("--mode", action="append", choices=MODES, help="default: all four")
    parser.add_argument("--seeds", help="comma-separated shuffle seeds (default: file order)")
    parser.add_argument("--m", type=int, default=4, help="the bank's M (sib modes)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    args = parser.parse_args()

    cameras = {}
    for spec in args.camera:
        name, sep, folder = spec.partition("=")
        if not sep:
            raise SystemExit(f"--camera takes NAME=DIR, got {spec!r}")
        cameras[name] = labelled_frames(folder)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [None]
    rows: dict[str, list[dict]] = {}
    for mode in args.mode or MODES:
        # source and target do not depend on the order: one run
        order = seeds if mode.startswith("sib") else seeds[:1]
        rows[mode] = [
            run_rig(args.model_dir, shuffled(cameras, s), mode, args.m, args.threads) for s in order
        ]
    print(table(rows, list(cameras)))


if __name__ == "__main__":
    main()
