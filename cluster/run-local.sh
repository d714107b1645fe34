#!/usr/bin/env bash
# run-local.sh: run a dqss command as an MPI job on THIS machine (for trying data parallelism).
#
#   cluster/run-local.sh [-n RANKS] [-t THREADS_PER_RANK] [--] COMMAND [ARGS...]
#
#   cluster/run-local.sh -n 2 -t 1 .build/release/dqss-mpitest ptq-search
#   cluster/run-local.sh -n 2 -t 1 .build/release/dqss search --mode ptq ... --threads 1
#
# Each rank gets THREADS_PER_RANK cores (mapped with --map-by slot:PE=T and bound to them) when the
# machine has RANKS x T cores, otherwise no binding and --oversubscribe (a laptop, a shared VM).
# OPENBLAS_NUM_THREADS/OMP_NUM_THREADS are set to T for every rank; pass `--threads T` to dqss commands
# as well (dqss sizes its own loops from that flag, default: all cores of the machine).
# As root (containers), --allow-run-as-root is added. Shared memory (vader) is Open MPI's default on one
# node; nothing to configure.
set -euo pipefail

ranks=2
threads=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        -n) ranks="$2"; shift 2 ;;
        -t) threads="$2"; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) break ;;
    esac
done
[[ $# -ge 1 ]] || { echo "run-local.sh: missing command (see --help)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "run-local.sh: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 2; }

cores=$(nproc)
args=(-np "$ranks" -x OPENBLAS_NUM_THREADS="$threads" -x OMP_NUM_THREADS="$threads")
if (( ranks * threads <= cores )); then
    args+=(--map-by "slot:PE=$threads" --bind-to core)
else
    args+=(--oversubscribe --bind-to none)
fi
if [[ $(id -u) -eq 0 ]]; then
    args+=(--allow-run-as-root)
fi
# Forward the fault-injection switch of the tests when it is set.
if [[ -n "${DQSS_INJECT_FAULT:-}" ]]; then args+=(-x DQSS_INJECT_FAULT); fi

# Stopping: Open MPI's mpirun treats SIGTERM/SIGINT as "kill the job" (SIGKILL to every rank one second
# later, exit status 1), but forwards SIGUSR1 to every rank untouched. So mpirun runs in the background and
# a SIGTERM/SIGINT/SIGUSR1 sent to THIS script becomes a SIGUSR1 to mpirun: dqss qat / search --mode qat
# then stop every rank after the same step, write the checkpoint and exit 75; this script exits with
# mpirun's status (75). (Ctrl-C in a terminal also reaches mpirun itself, which then kills the job.)
mpirun "${args[@]}" "$@" &
mpirun_pid=$!
trap 'kill -USR1 "$mpirun_pid" 2>/dev/null || true' TERM INT USR1
status=0
while true; do
    wait "$mpirun_pid" && status=0 || status=$?
    # `wait` returns early (status > 128) when a trapped signal arrives; mpirun may still be running.
    kill -0 "$mpirun_pid" 2>/dev/null || break
done
exit "$status"
