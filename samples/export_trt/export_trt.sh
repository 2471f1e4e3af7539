#!/usr/bin/env bash
# Export a trained checkpoint with TensorRT engines ON THE DEVICE that will run them (a Jetson or
# a desktop GPU), check the graphs against PyTorch, and time every mode on TensorRT.
#
# NEEDS: a CUDA GPU with TensorRT (Jetson: JetPack's python3-libnvinfer in a venv made with
# --system-site-packages; desktop: pip install -e ".[export,trt]"). Export and check also need
# torch; on a Jetson without torch, export on the training box without --trt, copy the model
# folder, and let `edgedg stream ... --backend trt` or step 3 build the engine there.
#
#   CHECKPOINT=runs/gsim_mldg/best.pt ./export_trt.sh
#   PRECISION=fp32 IMGSZ=512x1024 ./export_trt.sh
#   DRY_RUN=1 ./export_trt.sh                     # print the commands, run nothing
set -euo pipefail

CHECKPOINT=${CHECKPOINT:?set CHECKPOINT to the .pt written by edgedg train (e.g. RUN/best.pt)}
MODEL=${MODEL:-model}            # the model directory to write
PRECISION=${PRECISION:-fp16}     # fp16: statistics stay FP32, the build checks what it got
IMGSZ=${IMGSZ:-}                 # HxW; default: the checkpoint's training size
WORKSPACE=${WORKSPACE:-2048}     # MiB; lower it when a small Jetson runs out of memory
IO=${IO:-uint8}                  # uint8 parses on every JetPack; float: float image, int32 labels

run() {
    if [[ -n "${DRY_RUN:-}" ]]; then printf '%q ' "$@"; echo; else "$@"; fi
}

size=()
[[ -n "$IMGSZ" ]] && size=(--imgsz "$IMGSZ")

# 0. What this machine can run (TensorRT, CUDA, OpenCV GStreamer, JetPack) and what is missing.
run edgedg doctor

# 1. Model directory + TensorRT engines (cached under $MODEL/engines, keyed by TensorRT and GPU).
run edgedg export "$CHECKPOINT" --out "$MODEL" --trt --precision "$PRECISION" \
    --workspace "$WORKSPACE" --timing-cache "$MODEL.timing-cache" --io "$IO" "${size[@]}"

# 2. The exported ONNX graphs against the PyTorch reference, every mode (labels >= 99.9 %).
run edgedg check "$MODEL" "$CHECKPOINT" --trt all

# 3. Latency per mode on TensorRT, ratios to plain (the sib / plain ratio is the bank's cost).
run edgedg bench "$MODEL" --backend trt --frames 200 --warmup 20 --json "$MODEL.bench_trt.json"
