#!/usr/bin/env bash
# Reproduces the 4-bit QAT table of docs/results.md: each uniform QAT candidate (DoReFa, DSQ, LSQ, PACT;
# ALGORITHMS.md §4) and DQSS in QAT (§7) fine-tuned from the pretrained CIFAR-10 ResNets of
# ../shared/datasets with the same short budget and seed, evaluated on the 10,000-image test-jpeg split.
#
#   scripts/qat-table.sh                                   # every ResNet, all rows (prints the Markdown table)
#   MODELS="resnet32 resnet44" scripts/qat-table.sh
#   METHODS="lsq dqss" EPOCHS=4 scripts/qat-table.sh
#   MODELS="resnet20 resnet32 resnet44 shufflenetv2_x0_5" EPOCHS=10 scripts/qat-table.sh   # issue 17's budget
#
# Methods: dorefa, dsq, lsq, pact (one candidate everywhere); dqss (the default annealed schedule:
# Adam on α/β, τ annealed over the first half of the epochs, then the derived network alone trains);
# dqss-paper (§7 as printed: --schedule paper, SGD lr-theta LR_THETA); dqss@X (default schedule, --lr-theta X);
# dqss-sN (default schedule with --search-epochs N: N search epochs, the rest derived-only);
# dqss-mM (default schedule with --mixture-epochs M: M epochs of uniform-mixture training first);
# dqss-mM-sN (both).
#
# Budget (environment): TRAIN_LIMIT (default 4660 = every training image of ../shared/datasets),
# EPOCHS (1, after 1 warm-up epoch), BATCH (128), LR (1e-3), LR_THETA (1e-4, the paper's, for dqss-paper),
# SEED (0), BITS (4; first conv and classifier at 8, §2.2),
# BN_REESTIMATE (2048: DQSS's derived network is also evaluated after re-estimating BatchNorm statistics on
# that many training images; 0 = off).
# Other: DATA (../shared/datasets), THREADS, BIN (default .build/release/dqss, built here).
# Progress goes to stderr; rows are printed as each run finishes.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/datasets}
MODELS=${MODELS:-"resnet20 resnet32 resnet44"}
METHODS=${METHODS:-"dorefa dsq lsq pact dqss-paper dqss"}
TRAIN_LIMIT=${TRAIN_LIMIT:-4660}
EPOCHS=${EPOCHS:-1}
BATCH=${BATCH:-128}
LR=${LR:-1e-3}
LR_THETA=${LR_THETA:-1e-4}
SEED=${SEED:-0}
BITS=${BITS:-4}
BN_REESTIMATE=${BN_REESTIMATE:-2048}
EXTRA=()
if [[ -n "${THREADS:-}" ]]; then EXTRA+=(--threads "$THREADS"); fi
if [[ -z "${BIN:-}" ]]; then
    swift build -c release --product dqss >&2
    BIN=.build/release/dqss
fi

echo "| model | method | setting | FP32 | top-1 (derived for DQSS) | DQSS soft mixture | DQSS derived, BN re-estimated | wall time |"
echo "|---|---|---|---|---|---|---|---|"
for model in $MODELS; do
    fp32=(--fp32)   # FP32 evaluated once per model, on its first row
    for m in $METHODS; do
        case "$model" in
            shufflenetv2*) weights="$DATA/models/cifar10/chenyaofo_$model.safetensors" ;;
            *) weights="$DATA/models/cifar10/akamaster_$model.safetensors" ;;
        esac
        common=(--model "$model" --weights "$weights"
                --data "$DATA/cifar10" --split test-jpeg --train-limit "$TRAIN_LIMIT" --epochs "$EPOCHS"
                --warmup-epochs 1 --batch "$BATCH" --lr "$LR" --bits "$BITS" --seed "$SEED" --eval-every 0
                --markdown ${fp32[@]+"${fp32[@]}"} ${EXTRA[@]+"${EXTRA[@]}"})
        case "$m" in
            dqss) "$BIN" search --mode qat --bn-reestimate "$BN_REESTIMATE" "${common[@]}" | sed "s/| dqss |/| dqss (annealed, default) |/" ;;
            dqss-paper) "$BIN" search --mode qat --schedule paper --lr-theta "$LR_THETA" --bn-reestimate "$BN_REESTIMATE" "${common[@]}" | sed "s/| dqss |/| dqss (paper schedule) |/" ;;
            dqss-m*-s*) mix=${m#dqss-m}; mix=${mix%%-s*}
                "$BIN" search --mode qat --mixture-epochs "$mix" --search-epochs "${m##*-s}" --bn-reestimate "$BN_REESTIMATE" "${common[@]}" | sed "s/| dqss |/| dqss (annealed, mixture $mix + search ${m##*-s} epochs) |/" ;;
            dqss-m*) "$BIN" search --mode qat --mixture-epochs "${m#dqss-m}" --bn-reestimate "$BN_REESTIMATE" "${common[@]}" | sed "s/| dqss |/| dqss (annealed, mixture ${m#dqss-m} epochs) |/" ;;
            dqss-s*) "$BIN" search --mode qat --search-epochs "${m#dqss-s}" --bn-reestimate "$BN_REESTIMATE" "${common[@]}" | sed "s/| dqss |/| dqss (annealed, search ${m#dqss-s} epochs) |/" ;;
            dqss@*) "$BIN" search --mode qat --lr-theta "${m#dqss@}" --bn-reestimate "$BN_REESTIMATE" "${common[@]}" | sed "s/| dqss |/| dqss (annealed, lr-theta ${m#dqss@}) |/" ;;
            *) "$BIN" qat --method "$m" "${common[@]}" ;;
        esac
        fp32=()
    done
done
