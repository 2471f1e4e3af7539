#!/usr/bin/env bash
# The paper's ablation (Tables 3 and 5) on the built-in synthetic domains: AGG and MLDG, each
# with source BN, TN, the style bank (sib), the queue bank (qib) and the exact image bank.
#
# NEEDS: a CPU only. The full run takes about half an hour on 2 cores; QUICK=1 is a smoke run
# (a couple of minutes, numbers meaningless).
#
#   ./ablation.sh                       # into ablation_out/
#   OUT=/tmp/abl QUICK=1 ./ablation.sh
#   DRY_RUN=1 ./ablation.sh             # print the command, run nothing
set -euo pipefail

OUT=${OUT:-ablation_out}
BACKBONE=${BACKBONE:-tiny}       # resnet18 learns more, on a GPU or with patience
QUICK=${QUICK:-}

run() {
    if [[ -n "${DRY_RUN:-}" ]]; then printf '%q ' "$@"; echo; else "$@"; fi
}

args=(--out "$OUT" --backbone "$BACKBONE")
[[ -n "$QUICK" ]] && args+=(--quick)

run edgedg ablation "${args[@]}"
[[ -n "${DRY_RUN:-}" ]] || echo "tables: $OUT/ablation.md, every number: $OUT/ablation.json"
