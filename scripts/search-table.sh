#!/usr/bin/env bash
# Reproduces the DQSS rows of docs/results.md (ALGORITHMS.md §6, §6.1, §6.2): for each CIFAR-10 model of
# ../shared/datasets and each setting, one `dqss search --mode ptq --also-paper` run prints one Markdown row:
# FP32, each uniform candidate (the four by default), DQSS-None (soft mixture, θ = 1/N), the paper schedule's derived
# network, the annealed search's derived network, and the final DQSS network (selection on held-out
# training images + greedy refinement), all on the 10,000-image test-jpeg split. With peers (PEERS, default
# all: `--peers`), a second table follows: the DQSS final row and each peer row (greedy refinement from the
# best uniform candidate, sensitivity-score selection, greedy refinement from it) with its top-1, its
# difference to DQSS final, its validation score, its own wall time and its validation / backward passes.
#
#   scripts/search-table.sh                                    # every model, W4A8 W8A8 W8A4
#   MODELS="resnet20 shufflenetv2_x0_5" SETTINGS="4,8" scripts/search-table.sh
#   OUT=out/search scripts/search-table.sh                     # keep each run's assignment.json, search.json, figure4.svg
#   CANDIDATES=maxabs,kl,easyquant,admm,mse,percentile:99.99 MODELS=resnet20 SETTINGS="4,8" scripts/search-table.sh
#   GRANULARITY=channel MODELS=resnet20 SETTINGS="4,8" scripts/search-table.sh   # per-output-channel weights
#   VAL_JPEG=75 SETTINGS="8,4" scripts/search-table.sh        # select and refine on JPEG-decoded validation images
#
# Environment: DATA (../shared/datasets), MODELS, SETTINGS ("W,A" pairs), CANDIDATES (the --candidates list,
# default the paper's four; one uniform column each, in that order), EQ_IMAGES (64, as
# scripts/ptq-table.sh; the calibration draw is that of `dqss ptq --seed 0`, so the uniform columns equal
# the PTQ table's), VAL_IMAGES (1000), REFINE_PASSES (1), REFINE_FROM (all; both: derived and best uniform only; best: refine
# from the single best start, --refine-from), PEERS (all; none, or e.g. greedy,sensitivity),
# VAL_JPEG (a JPEG quality: the validation images go through JPEG before scoring, --val-jpeg-quality;
# default none), SELECT_IMAGES (--select-images: further held-out images that choose between the
# refinements; default 0), REFINE_SIGNIFICANCE (--refine-significance Z: keep a refinement change only when it
# lowers the per-image validation KL by more than Z standard errors; default off), PROGRESSIVE_FIXING (1:
# --progressive-fixing, the annealed search fixes its most decisive layer sides as it goes; default off), GUMBEL_ST (1:
# --gumbel-straight-through, the annealed search runs one sampled one-hot network per step; default off), SEED (0), GRANULARITY (--weight-granularity: tensor, the default, or channel), THREADS, OUT, BIN.
# Progress goes to stderr; each row is printed when its run ends.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/datasets}
MODELS=${MODELS:-"resnet20 resnet32 resnet44 shufflenetv2_x0_5"}
SETTINGS=${SETTINGS:-"4,8 8,8 8,4"}
EQ_IMAGES=${EQ_IMAGES:-64}
VAL_IMAGES=${VAL_IMAGES:-1000}
REFINE_PASSES=${REFINE_PASSES:-1}
REFINE_FROM=${REFINE_FROM:-all}
PEERS=${PEERS:-all}
SEED=${SEED:-0}
CANDIDATES=${CANDIDATES:-maxabs,kl,easyquant,admm}
GRANULARITY=${GRANULARITY:-tensor}
EXTRA=()
if [[ -n "${THREADS:-}" ]]; then EXTRA+=(--threads "$THREADS"); fi
if [[ -n "${VAL_JPEG:-}" ]]; then EXTRA+=(--val-jpeg-quality "$VAL_JPEG"); fi
if [[ -n "${SELECT_IMAGES:-}" ]]; then EXTRA+=(--select-images "$SELECT_IMAGES"); fi
if [[ -n "${REFINE_SIGNIFICANCE:-}" ]]; then EXTRA+=(--refine-significance "$REFINE_SIGNIFICANCE"); fi
if [[ "${PROGRESSIVE_FIXING:-0}" == 1 ]]; then EXTRA+=(--progressive-fixing); fi
if [[ "${GUMBEL_ST:-0}" == 1 ]]; then EXTRA+=(--gumbel-straight-through); fi
if [[ -z "${BIN:-}" ]]; then
    swift build -c release --product dqss >&2
    BIN=.build/release/dqss
fi

# The column labels dqss prints for a --candidates list (PTQMethod.paperName).
label() {
    case "$1" in
        maxabs|max_abs) echo Max_Abs ;; kl) echo KL ;; easyquant|eq) echo EQ ;; admm) echo ADMM ;; mse) echo MSE ;;
        percentile) echo P99.99 ;; percentile:*) echo "P${1#percentile:}" ;;
        adaround) echo AdaRound ;; adaround:*) echo "AdaRound($(label "${1#adaround:}"))" ;; *) echo "$1" ;;
    esac
}
header="| model | setting | FP32 |"; rule="|---|---|---|"
for m in ${CANDIDATES//,/ }; do header+=" $(label "${m,,}") |"; rule+="---|"; done
echo "$header DQSS-None (soft) | DQSS paper schedule (derived) | DQSS annealed (derived) | DQSS (selected + refined) | refinement start | changes |"
echo "$rule---|---|---|---|---|---|"
peer_rows=()
for model in $MODELS; do
    weights=$(ls "$DATA"/models/cifar10/*_"$model".safetensors 2>/dev/null | head -1)
    [[ -n "$weights" ]] || { echo "no weights for $model under $DATA/models/cifar10" >&2; exit 1; }
    for s in $SETTINGS; do
        w=${s%,*}; a=${s#*,}
        out=()
        if [[ -n "${OUT:-}" ]]; then out=(--out "$OUT/$model-W${w}A${a}"); fi
        # The first line is the row; the peer table's rows follow it.
        rows=$("$BIN" search --mode ptq --model "$model" --weights "$weights" --data "$DATA/cifar10" --split test-jpeg \
            --candidates "$CANDIDATES" --weight-bits "$w" --act-bits "$a" --calib 256 --seed "$SEED" --eq-images "$EQ_IMAGES" \
            --val-images "$VAL_IMAGES" --refine-passes "$REFINE_PASSES" --refine-from "$REFINE_FROM" --peers "$PEERS" --also-paper \
            --weight-granularity "$GRANULARITY" --markdown \
            ${out[@]+"${out[@]}"} ${EXTRA[@]+"${EXTRA[@]}"})
        head -1 <<<"$rows"
        while IFS= read -r line; do peer_rows+=("$line"); done < <(tail -n +2 <<<"$rows")
    done
done
if (( ${#peer_rows[@]} > 0 )); then
    echo
    echo "| model | setting | row | start | top-1 | vs DQSS final | validation score | own wall time (s) | validation passes | backward batches |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${peer_rows[@]}"
fi
