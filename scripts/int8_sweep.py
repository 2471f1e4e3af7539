"""INT8 calibration sweep: mIoU of the Q/DQ graphs against FP32 per calibration setting.

For every number of calibration images, range method and calibration mode asked for, exports the
checkpoint with ``--int8`` into OUT/<setting> and scores FP32 and INT8 with `edgedg eval MODEL_DIR`
(the library calls behind it) on each target, in the given norm modes. Prints one table; the
numbers chose the defaults of ``edgedg_export.calibrate`` (docs/results.md, "INT8").

    python scripts/int8_sweep.py CKPT OUT --calib cityscapes:/data/sunny --target cityscapes:/x \
        --images 8 --images 32 --method minmax --method percentile --calib-mode target
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--calib", action="append", required=True, help="FORMAT:PATH (repeat)")
    parser.add_argument("--target", action="append", required=True, help="FORMAT:PATH (repeat)")
    parser.add_argument("--images", action="append", type=int, help="calibration images")
    parser.add_argument("--method", action="append", help="minmax | percentile")
    parser.add_argument("--calib-mode", action="append", help="target | source")
    parser.add_argument("--norm", action="append", help="norm modes to score (default target)")
    parser.add_argument("--runs", type=int, default=1, help="stream orders for the bank modes")
    args = parser.parse_args()

    from edgedg.evaluate.model_dir_eval import evaluate_model_dir
    from edgedg.evaluate.runner import EvalConfig
    from edgedg_export.calibrate import Int8Options
    from edgedg_export.model_dir import ExportOptions, export_model_dir

    cfg = EvalConfig(tuple(args.norm or ["target"]), runs=args.runs)
    rows, fp32 = [], None
    for images in args.images or [32]:
        for method in args.method or ["minmax"]:
            for mode in args.calib_mode or ["target"]:
                name = f"{method}-{images}-{mode}"
                out = Path(args.out) / name
                quant = Int8Options(tuple(args.calib), images, method, mode)
                export_model_dir(args.checkpoint, out, ExportOptions(int8=quant))
                if fp32 is None:
                    fp32 = evaluate_model_dir(str(out), args.target, cfg, "val", "fp32", log=None)
                    rows.append(("fp32", _scores(fp32)))
                int8 = evaluate_model_dir(str(out), args.target, cfg, "val", "int8", log=None)
                rows.append((name, _scores(int8)))
                print(name, json.dumps(rows[-1][1]), flush=True)
    _print(rows)


def _scores(report: dict) -> dict:
    """mIoU % (mean over runs) per mode and target."""
    return {
        mode: {t: round(100 * s["miou_mean"], 2) for t, s in entry["targets"].items()}
        for mode, entry in report["modes"].items()
    }


def _print(rows: list) -> None:
    columns = [(m, t) for m, per in rows[0][1].items() for t in per]
    print("setting".ljust(26) + "".join(f"{m}/{t}".rjust(18) for m, t in columns))
    for name, scores in rows:
        print(name.ljust(26) + "".join(f"{scores[m][t]:18.2f}" for m, t in columns))


if __name__ == "__main__":
    main()
