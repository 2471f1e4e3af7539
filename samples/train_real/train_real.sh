#!/usr/bin/env bash
# Train MLDG on GTA5 + Synthia + IDD + Mapillary and evaluate on Cityscapes (G+S+I+M -> C),
# then the AGG baseline, as in the paper.
#
# NEEDS: the five datasets on disk and a CUDA GPU (one, or several with torchrun). Not a CPU job.
#
#   GTA5=/data/gta5 SYNTHIA=/data/synthia IDD=/data/idd MAPILLARY=/data/mapillary \
#   CITYSCAPES=/data/cityscapes ./train_real.sh        # one GPU
#   GPUS=4 ... ./train_real.sh                          # four GPUs on this node (torchrun, DDP)
#   DRY_RUN=1 ... ./train_real.sh                       # print the commands, run nothing
set -euo pipefail

GTA5=${GTA5:?set GTA5 to the GTA5 root (images/, labels/, split.mat)}
SYNTHIA=${SYNTHIA:?set SYNTHIA to the SYNTHIA-RAND-CITYSCAPES root (RGB/, GT/LABELS/)}
IDD=${IDD:?set IDD to the IDD root (leftImg8bit/, gtFine/ with labelcsIds)}
MAPILLARY=${MAPILLARY:?set MAPILLARY to the Mapillary Vistas v1.2 root (config.json, training/)}
CITYSCAPES=${CITYSCAPES:?set CITYSCAPES to the Cityscapes root (leftImg8bit/, gtFine/)}

GPUS=${GPUS:-1}                  # processes on this node; the batch below is GLOBAL
OUT=${OUT:-runs}                 # RUN folders go under here
BACKBONE=${BACKBONE:-resnet50}
ITERS=${ITERS:-45000}            # the paper: 120 "epochs" of 375 iterations
BATCH=${BATCH:-8}                # crops per domain per step (global), 4 domains -> 32 crops
CROP=${CROP:-600}
LONG_SIDE=${LONG_SIDE:-1920}     # Mapillary images are often > 3000 px: shrink on load
PRETRAINED=${PRETRAINED:-}       # torchvision-format ImageNet weights (the paper starts there)
WORKERS=${WORKERS:-4}            # loader processes per GPU

run() {
    if [[ -n "${DRY_RUN:-}" ]]; then printf '%q ' "$@"; echo; else "$@"; fi
}

sources=(--source "gta5:$GTA5" --source "synthia:$SYNTHIA" --source "idd:$IDD"
         --source "mapillary:$MAPILLARY")
extra=()
[[ -n "$PRETRAINED" ]] && extra+=(--pretrained "$PRETRAINED")

if [[ "$GPUS" -gt 1 ]]; then
    launch=(torchrun --standalone --nproc-per-node "$GPUS" -m edgedg)
else
    launch=(edgedg)
fi

# 0. What one step costs on this GPU (seconds), before committing to 45,000 of them.
run edgedg bench-train --backbones "$BACKBONE" --size 512 --batch-per-domain 2 --domains 4 \
    --device cuda

for method in mldg agg; do
    # 1. Train; source validation (5 % of each source held out) picks best.pt, never the target.
    run "${launch[@]}" train "${sources[@]}" --method "$method" --backbone "$BACKBONE" \
        --iters "$ITERS" --batch-per-domain "$BATCH" --crop "$CROP" --long-side "$LONG_SIDE" \
        --workers "$WORKERS" --save-every 1000 --out "$OUT/gsim_$method" "${extra[@]}"

    # 2. Evaluate on Cityscapes val with the paper's protocol (768x768 central crop, 5 stream
    #    orders for the bank modes); report.json, a per-class chart and the table on stdout.
    run edgedg eval "$OUT/gsim_$method/best.pt" --target "cityscapes:$CITYSCAPES" \
        --norm source --norm target --norm sib --norm sib-exact --runs 5 --protocol paper \
        --size 768 --report "$OUT/gsim_$method/eval_cityscapes.json" \
        --chart "$OUT/gsim_$method/eval_cityscapes.png"
done
