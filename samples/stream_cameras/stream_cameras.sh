#!/usr/bin/env bash
# Stream a camera through a model directory: a USB camera, a Jetson CSI camera or an RTSP
# stream, with the style bank kept across restarts.
#
# NEEDS: a camera (USB at /dev/video0, a CSI sensor, or an RTSP URL). csi://0 also needs
# JetPack's OpenCV with GStreamer (pip's OpenCV has none). --backend trt needs a GPU + TensorRT.
#
#   MODEL=model ./stream_cameras.sh usb         # /dev/video0, window if a display exists
#   MODEL=model ./stream_cameras.sh csi         # Jetson CSI sensor 0, TensorRT, headless
#   RTSP_URL=rtsp://10.0.0.7:554/stream1 ./stream_cameras.sh rtsp
#   DRY_RUN=1 ./stream_cameras.sh all           # print every command, run nothing
set -euo pipefail

MODEL=${MODEL:-model}
BACKEND=${BACKEND:-auto}         # auto: TensorRT if usable, else ONNX Runtime
WIDTH=${WIDTH:-1280}
HEIGHT=${HEIGHT:-720}
RATE=${RATE:-30}
BANK=${BANK:-bank.npz}           # the style bank: loaded if present, saved on exit
RTSP_URL=${RTSP_URL:-rtsp://192.168.1.10:554/stream1}
OUT=${OUT:-stream_out}

run() {
    if [[ -n "${DRY_RUN:-}" ]]; then printf '%q ' "$@"; echo; else "$@"; fi
}

usb() {   # a USB/UVC camera; a window when there is a display (q or Esc quits)
    run edgedg stream "$MODEL" /dev/video0 "$OUT/usb.mp4" --backend "$BACKEND" \
        --input-width "$WIDTH" --input-height "$HEIGHT" --input-rate "$RATE" \
        --display --profile 100 --norm sib --bank "$BANK" --bank-save-every 500
}

csi() {   # a Jetson CSI sensor through nvarguscamerasrc; no window on a headless board
    run edgedg stream "$MODEL" csi://0 "$OUT/csi.mp4" --backend trt \
        --input-width "$WIDTH" --input-height "$HEIGHT" --input-rate "$RATE" \
        --headless --profile 100 --norm sib --bank "$BANK"
}

rtsp() {  # a network camera: only the latest frame is kept (no growing latency); reconnects
    run edgedg stream "$MODEL" "$RTSP_URL" "$OUT/rtsp_frames" --visualize overlay,mask \
        --backend "$BACKEND" --headless --profile 100 --timeout 10 --norm sib --bank "$BANK"
}

[[ -n "${DRY_RUN:-}" ]] || mkdir -p "$OUT"
case "${1:-usb}" in
    usb) usb ;;
    csi) csi ;;
    rtsp) rtsp ;;
    all) usb; csi; rtsp ;;
    *) echo "usage: $0 usb|csi|rtsp|all" >&2; exit 2 ;;
esac
