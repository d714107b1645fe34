#!/usr/bin/env bash
# The real `dqss search --mode ptq` on 1 process and under `mpirun -np 2` with the same images, compared:
# thresholds, α/β, the derived choices and the top-1 rows. Measured at the 2026-12-02 stop with the default
# Adam on α/β: thresholds equal, α/β up to 8e-3 apart and 3 of 40 derived choices different (margins up to
# 0.14; final top-1 equal on 64 images); with `EXTRA="--optimizer sgd --lr-theta 1"`: α/β within 1.4e-7. Adam
# divides each step by √v, so a logit whose gradient is only summation-order noise still moves a full step
# of either sign; the distributed pipeline itself matches (Tests/DQSSDistributedTests/MPIPTQSearchTests).
# The SGD figure depends on the OpenBLAS kernels (a GEMM's last bits follow the matrix shape with Haswell/Zen
# kernels, and 2 ranks multiply other shapes): on a Zen 4 machine (2026-12-03) Zen kernels 8.1e-4, Sandybridge
# 2.0e-6, Nehalem 6.4e-8 (`OPENBLAS_CORETYPE=Nehalem scripts/mpi-ptq-parity.sh`).
#
#   scripts/mpi-ptq-parity.sh            # BIN=.build/release/dqss, DATA=../shared/datasets
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/dqss}
DATA=${DATA:-../shared/datasets}
ROOT=(); [ "$(id -u)" -eq 0 ] && ROOT=(--allow-run-as-root)
args=(search --mode ptq --model resnet20 --weights "$DATA/models/cifar10/akamaster_resnet20.safetensors"
      --data "$DATA/cifar10" --split test --calib 32 --eq-images 8 --val-images 32 --limit 64 --search-epochs 2
      --threads 1 --json --quiet ${EXTRA:-})
one=$(mktemp); two=$(mktemp); trap 'rm -f "$one" "$two"' EXIT
"$BIN" "${args[@]}" > "$one"
mpirun "${ROOT[@]}" --oversubscribe -np 2 "$BIN" "${args[@]}" > "$two"
python3 - "$one" "$two" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
worst = 0.0
for x, y in zip(a["assignment"], b["assignment"]):
    d = max(abs(p - q) for p, q in zip(x["alpha"] + x["beta"], y["alpha"] + y["beta"]))
    worst = max(worst, d)
    for side in ("activation", "weight"):
        if x["derived_" + side] != y["derived_" + side]:
            t = sorted(x["theta_" + side], reverse=True)
            print(f'{x["name"]} {side}: {x["derived_" + side]} (1 process) vs {y["derived_" + side]} (2 ranks), margin {t[0] - t[1]:.3g}')
    for k in ("activation_threshold", "weight_threshold"):
        if x[k] != y[k]: print(f'{x["name"]} {k}: {x[k]} vs {y[k]}')
print(f"max |Δ logit| {worst:.3g}; uniform {a['uniform']} vs {b['uniform']}; final {a['dqss_top1']} vs {b['dqss_top1']}")
PY
