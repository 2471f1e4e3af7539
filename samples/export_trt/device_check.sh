#!/usr/bin/env bash
# The device check: every step a first real run on this machine depends on, in one JSON report.
# Run it first on a new Jetson or GPU box, and send OUT_DIR/report.json with a device bug report.
#
# NEEDS: a CUDA GPU for the TensorRT and CUDA steps (each is recorded as skipped, with the reason,
# where TensorRT or a GPU is missing: it then benchmarks ONNX Runtime); torch for the export and
# parity steps. Nothing is downloaded: random weights and a synthetic video.
#
#   samples/export_trt/device_check.sh OUT_DIR
#   PYTHON=python3 PYTHONPATH=$PWD:$PWD/export:$PWD/runtime samples/export_trt/device_check.sh OUT
#   BACKBONE=resnet18 IMGSZ=256x512 FRAMES=300 BENCH_FRAMES=100 ...   (the defaults)
#
# Every step is recorded as ok / failed / skipped (+ reason, seconds, log file); a failed step
# never stops the ones after it. The script exits 1 when a step failed.
set -u

OUT=${1:?usage: device_check.sh OUT_DIR}
PYTHON=${PYTHON:-python3}
BACKBONE=${BACKBONE:-resnet18}
IMGSZ=${IMGSZ:-256x512}
FRAMES=${FRAMES:-300}              # streamed frames
BENCH_FRAMES=${BENCH_FRAMES:-100}  # timed frames per mode
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "$OUT/logs"
OUT="$(cd "$OUT" && pwd)"
STEPS="$OUT/steps.tsv"
: > "$STEPS"

edgedg() { "$PYTHON" -m edgedg "$@"; }

record() {  # NAME STATUS SECONDS REASON LOG
    local reason=${4//$'\t'/ }
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${reason//$'\n'/ }" "$5" >> "$STEPS"
    echo "[$2] $1${4:+: $4}"
}

step() {  # NAME COMMAND...: run it, log it, record ok / failed
    local name=$1 log="$OUT/logs/$1.log" start end status reason=""
    shift
    start=$(date +%s.%N)
    local rc=0
    "$@" > "$log" 2>&1 || rc=$?
    if [[ $rc -eq 0 ]]; then status=ok; else
        status=failed
        reason="exit $rc: $(grep -v '^\s*$' "$log" | tail -n 1 | cut -c1-300)"
    fi
    end=$(date +%s.%N)
    record "$name" "$status" "$(awk "BEGIN {printf \"%.1f\", $end - $start}")" "$reason" "$log"
}

skip() { record "$1" skipped 0 "$2" ""; }

# --- what this machine has ----------------------------------------------------------------------
step doctor sh -c "\"$PYTHON\" -m edgedg doctor --json > \"$OUT/doctor.json\""
HAVE_TRT=""
TRT_WHY="tensorrt is not importable with $PYTHON"
if "$PYTHON" -c "import tensorrt" > /dev/null 2>&1; then HAVE_TRT=1; TRT_WHY=""; fi
HAVE_GPU=""
if "$PYTHON" -c "from edgedg_runtime.cuda_buffers import cuda_call, cuda_runtime
assert cuda_call(cuda_runtime().cudaGetDeviceCount()) > 0" > /dev/null 2>&1; then HAVE_GPU=1; fi
if [[ -n "$HAVE_TRT" && -z "$HAVE_GPU" ]]; then HAVE_TRT=""; TRT_WHY="no CUDA device through cuda-python"; fi

# --- a model and a video, made here --------------------------------------------------------------
CKPT="$OUT/random-$BACKBONE.pt"
step checkpoint "$PYTHON" "$ROOT/scripts/random_checkpoint.py" "$BACKBONE" "$CKPT" --imgsz "$IMGSZ"
step synth_video edgedg data synth "$OUT/synth" --domains night --per-domain 1 --size "$IMGSZ" \
    --video --video-frames "$FRAMES" --quiet
VIDEO="$(ls "$OUT"/synth/video/*.mp4 2> /dev/null | head -n 1)"

# --- export fp32 and fp16 (engines where TensorRT is) --------------------------------------------
for precision in fp32 fp16; do
    trt_args=()
    [[ -n "$HAVE_TRT" ]] && trt_args=(--trt --precision "$precision")
    step "export_$precision" edgedg export "$CKPT" --out "$OUT/model-$precision" "${trt_args[@]}"
    [[ -z "$HAVE_TRT" ]] && skip "engine_$precision" "$TRT_WHY"
done

# --- INT8: Q/DQ graphs calibrated on synthetic street scenes (an engine where TensorRT is) -------
step synth_calib edgedg data synth "$OUT/calib" --domains sunny,overcast,night --per-domain 4 \
    --size "$IMGSZ" --quiet
int8_args=()
[[ -n "$HAVE_TRT" ]] && int8_args=(--trt --precision int8)
step export_int8 edgedg export "$CKPT" --out "$OUT/model-int8" --int8 --calib-images 12 \
    --calib "cityscapes:$OUT/calib/sunny" --calib "cityscapes:$OUT/calib/overcast" \
    --calib "cityscapes:$OUT/calib/night" "${int8_args[@]}"
[[ -z "$HAVE_TRT" ]] && skip engine_int8 "$TRT_WHY"
step check_int8 edgedg check "$OUT/model-int8" "$CKPT" --precision int8

# --- checks: every TensorRT parser statically, PyTorch parity, the CUDA buffers ------------------
step check_trt_static edgedg check "$OUT/model-fp32" --trt all
step check_parity edgedg check "$OUT/model-fp32" "$CKPT"
if [[ -z "$HAVE_GPU" ]]; then
    skip cuda_buffers "no CUDA device through cuda-python (or no cuda-python)"
elif ! "$PYTHON" -c "import pytest" > /dev/null 2>&1; then
    skip cuda_buffers "pytest is not installed for $PYTHON"
else
    step cuda_buffers "$PYTHON" -m pytest -q -p no:cacheprovider -m gpu \
        "$ROOT/tests/test_runtime_cuda_buffers.py"
fi

# --- latency: TensorRT sib / plain per precision, ONNX Runtime always -----------------------------
for precision in fp32 fp16 int8; do
    if [[ -n "$HAVE_TRT" ]]; then
        step "bench_trt_$precision" edgedg bench "$OUT/model-$precision" --backend trt \
            --mode plain --mode target --mode sib --precision "$precision" \
            --frames "$BENCH_FRAMES" --json "$OUT/bench_trt_$precision.json"
    else
        skip "bench_trt_$precision" "$TRT_WHY; ONNX Runtime is benchmarked instead"
    fi
done
step bench_ort edgedg bench "$OUT/model-int8" --backend ort --mode plain --mode target \
    --mode sib --precision fp32 --precision int8 --frames "$BENCH_FRAMES" \
    --json "$OUT/bench_ort.json"

# --- a stream of FRAMES frames (TensorRT where usable, else ONNX Runtime) ------------------------
if [[ -n "$VIDEO" ]]; then
    step stream edgedg stream "$OUT/model-fp32" "$VIDEO" --max-frames "$FRAMES" --profile 100
else
    skip stream "no synthetic video was written (see logs/synth_video.log)"
fi

# --- two cameras in one rig: one model, one batched call per tick, a bank each --------------------
if [[ -n "$VIDEO" ]]; then
    step stream_rig edgedg stream "$OUT/model-fp32" --camera a="$VIDEO" --camera b="$VIDEO" \
        --out "$OUT/rig" --norm sib --bank-dir "$OUT/rig-banks" --max-frames "$FRAMES" --profile 100
else
    skip stream_rig "no synthetic video was written (see logs/synth_video.log)"
fi
step bench_rig edgedg bench "$OUT/model-fp32" --cameras 1,2 --frames "$BENCH_FRAMES" \
    --json "$OUT/bench_rig.json"

# --- the report -----------------------------------------------------------------------------------
"$PYTHON" - "$OUT" "$BACKBONE" "$IMGSZ" "$FRAMES" << 'EOF'
import json, os, platform, sys, time

out, backbone, imgsz, frames = sys.argv[1:5]


def load(name):
    path = os.path.join(out, name)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


steps = []
with open(os.path.join(out, "steps.tsv")) as f:
    for line in f:
        name, status, seconds, reason, log = line.rstrip("\n").split("\t")
        steps.append({"step": name, "status": status, "seconds": float(seconds),
                      "reason": reason, "log": log})
stream_log = os.path.join(out, "logs", "stream.log")
stream = open(stream_log).read().strip().splitlines()[-4:] if os.path.exists(stream_log) else []
report = {
    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "machine": {"platform": platform.platform(), "python": platform.python_version()},
    "model": {"backbone": backbone, "imgsz": imgsz, "weights": "random"},
    "steps": steps,
    "failed": [s["step"] for s in steps if s["status"] == "failed"],
    "doctor": load("doctor.json"),
    "bench": {
        k: load(f"bench_{k}.json") for k in ("trt_fp32", "trt_fp16", "trt_int8", "ort", "rig")
    },
    "stream": {"frames": int(frames), "summary": stream},
}
with open(os.path.join(out, ".report.json.tmp"), "w") as f:
    json.dump(report, f, indent=2)
os.replace(os.path.join(out, ".report.json.tmp"), os.path.join(out, "report.json"))
print(f"wrote {out}/report.json: " + ", ".join(f"{s['step']} {s['status']}" for s in steps))
sys.exit(1 if report["failed"] else 0)
EOF
