#!/usr/bin/env bash
# Reproduces the PTQ table of docs/results.md: FP32 and the four PTQ candidates (Max_Abs, KL, EQ, ADMM,
# ALGORITHMS.md §3) on every CIFAR-10 model of ../shared/datasets, evaluated on the 10,000-image
# test-jpeg split, at W8A8, W4A8 and W8A4. 256 calibration images from the train split, seed 0.
#
#   scripts/ptq-table.sh                 # all models, all settings (prints the Markdown table on stdout)
#   MODELS="resnet20" SETTINGS="4,8" scripts/ptq-table.sh
#   EQ_IMAGES=256 scripts/ptq-table.sh   # EQ on all 256 calibration images (the spec default; slower)
#   METHODS=mse,percentile:99.99,percentile:99.9 MODELS=resnet20 SETTINGS="4,8 8,4" scripts/ptq-table.sh
#   GRANULARITY="tensor channel" METHODS=maxabs,kl,easyquant,admm,mse,percentile:99.99 scripts/ptq-table.sh
#   METHODS=mse,adaround GRANULARITY="tensor channel" MODELS=resnet20 SETTINGS="4,8" scripts/ptq-table.sh   # AdaRound (10k iterations per layer)
#
# Environment: DATA (default ../shared/datasets), MODELS, SETTINGS ("W,A" pairs), METHODS (the --method
# list, default all = the paper's four; one column each, in that order), EQ_IMAGES (default 64, see
# docs/results.md for why), GRANULARITY (--weight-granularity values, one row each; default tensor), THREADS, BIN (a built dqss; default: build .build/release/dqss). Progress
# goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/datasets}
MODELS=${MODELS:-"resnet20 resnet32 resnet44 shufflenetv2_x0_5"}
SETTINGS=${SETTINGS:-"8,8 4,8 8,4"}
EQ_IMAGES=${EQ_IMAGES:-64}
METHODS=${METHODS:-all}
GRANULARITY=${GRANULARITY:-tensor}
THREAD_ARGS=()
if [[ -n "${THREADS:-}" ]]; then THREAD_ARGS=(--threads "$THREADS"); fi

if [[ -z "${BIN:-}" ]]; then
    swift build -c release --product dqss >&2
    BIN=.build/release/dqss
fi

weights_for() {
    case "$1" in
        resnet*) echo "$DATA/models/cifar10/akamaster_$1.safetensors" ;;
        shufflenetv2_x0_5) echo "$DATA/models/cifar10/chenyaofo_shufflenetv2_x0_5.safetensors" ;;
        *) echo "no weights known for $1" >&2; exit 1 ;;
    esac
}

# The column labels dqss prints for a --method list (PTQMethod.paperName).
label() {
    case "$1" in
        maxabs|max_abs) echo Max_Abs ;; kl) echo KL ;; easyquant|eq) echo EQ ;; admm) echo ADMM ;; mse) echo MSE ;;
        percentile) echo P99.99 ;; percentile:*) echo "P${1#percentile:}" ;;
        adaround) echo AdaRound ;; adaround:*) echo "AdaRound($(label "${1#adaround:}"))" ;; *) echo "$1" ;;
    esac
}
[[ "$METHODS" == all ]] && list="maxabs,kl,easyquant,admm" || list=$METHODS
header="| model | setting | FP32 |"; rule="|---|---|---|"
for m in ${list//,/ }; do header+=" $(label "${m,,}") |"; rule+="---|"; done
[[ ",$list," == *,easyquant,* || ",${list,,}," == *,eq,* ]] && { header+=" EQ calibration time |"; rule+="---|"; }
[[ ",${list,,}" == *,adaround* ]] && { header+=" AdaRound time |"; rule+="---|"; }
echo "$header"
echo "$rule"
for model in $MODELS; do
    fp32=(--fp32)   # FP32 is evaluated once per model (first setting); later rows show ″
    for setting in $SETTINGS; do
        w=${setting%,*}; a=${setting#*,}
        for g in $GRANULARITY; do
            "$BIN" ptq --model "$model" --weights "$(weights_for "$model")" --data "$DATA/cifar10" \
                --split test-jpeg --method "$METHODS" --weight-bits "$w" --act-bits "$a" --calib 256 --seed 0 \
                --eq-images "$EQ_IMAGES" --weight-granularity "$g" ${fp32[@]+"${fp32[@]}"} --markdown \
                ${THREAD_ARGS[@]+"${THREAD_ARGS[@]}"}
            fp32=()
        done
    done
done
