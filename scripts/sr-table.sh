#!/usr/bin/env bash
# Reproduces the SR table of docs/results.md (the paper's Table 2 layout, ALGORITHMS.md §10.3): IMDN x4,
# 8-bit PTQ, PSNR/SSIM (Y channel, 4-pixel shave) on every test set under ../shared/datasets/sr for FP32,
# each uniform candidate (Max_Abs, KL, EQ, ADMM), DQSS-None and DQSS (annealed search, L1 loss).
# Calibration: 256 HR/LR pairs from CIFAR-10 *training* records (32x32 HR -> 8x8 LR, MATLAB bicubic),
# seed 0; EQ on the first 64 of them (as scripts/ptq-table.sh).
#
#   scripts/sr-table.sh                  # prints the Markdown table on stdout, progress on stderr
#   OUT=out/sr scripts/sr-table.sh       # also keeps the full JSON report (out/sr/sr-search.json)
#
# Environment: DATA (default ../shared/datasets), EQ_IMAGES (default 64), SEED (0), THREADS, OUT, BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/datasets}
EQ_IMAGES=${EQ_IMAGES:-64}
SEED=${SEED:-0}
EXTRA=()
if [[ -n "${THREADS:-}" ]]; then EXTRA+=(--threads "$THREADS"); fi
if [[ -n "${OUT:-}" ]]; then EXTRA+=(--out "$OUT"); fi

if [[ -z "${BIN:-}" ]]; then
    swift build -c release --product dqss >&2
    BIN=.build/release/dqss
fi
"$BIN" search --mode ptq --task sr --model imdn --weights "$DATA/models/sr/imdn_x4.safetensors" \
    --data "$DATA/sr" --calib-data "$DATA/cifar10" --calib 256 --eq-images "$EQ_IMAGES" --seed "$SEED" \
    ${EXTRA[@]+"${EXTRA[@]}"}
