#!/usr/bin/env python3
"""Damage checkpoint files the way issue 16 did and count what `dqss` does with them.

    python3 scripts/checkpoint-faults.py [--dqss .build/release/dqss] [--trials 80] [--seed 16]

Writes a checkpoint with `dqss checkpoint-drill --steps 12`, then for each trial overwrites 8 random
bytes (a random offset; half the trials within the last 4 KiB) in a copy and runs
`dqss inspect COPY --json` and `dqss checkpoint-drill --steps 14 --resume COPY --json`. Each run is
classified as: "error" (exit status 1 with a message naming the file), "same" (exit 0 with the output
of the undamaged file: the flip changed nothing that is read), "silent" (exit 0, different output),
"crash" (killed by a signal) or "other". Prints one table row per command. Needs only Python 3.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile


def classify(cmd, path, reference):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode < 0 or p.returncode >= 128:
        return "crash"
    if p.returncode == 0:
        return "same" if p.stdout.replace(path, "FILE") == reference else "silent"
    return "error" if path in p.stderr else "other"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dqss", default=".build/release/dqss")
    ap.add_argument("--trials", type=int, default=80)
    ap.add_argument("--seed", type=int, default=16)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="dqss-faults-")
    try:
        subprocess.run([a.dqss, "checkpoint-drill", "--steps", "12", "--checkpoint-dir", work, "--quiet"], check=True)
        good = os.path.join(work, "ckpt-00000012.h5")
        data = open(good, "rb").read()
        copy = os.path.join(work, "damaged.h5")
        commands = {
            "inspect FILE --json": lambda f: [a.dqss, "inspect", f, "--json"],
            "checkpoint-drill --resume FILE": lambda f: [a.dqss, "checkpoint-drill", "--steps", "14", "--resume", f, "--json", "--quiet"],
        }
        shutil.copy(good, copy)
        refs = {name: subprocess.run(c(copy), capture_output=True, text=True).stdout.replace(copy, "FILE")
                for name, c in commands.items()}
        counts = {name: {} for name in commands}
        for t in range(a.trials):
            lo = len(data) - 4096 if t % 2 else 0
            at = rng.randrange(max(lo, 0), len(data) - 8)
            b = bytearray(data)
            b[at:at + 8] = bytes(rng.randrange(256) for _ in range(8))
            open(copy, "wb").write(b)
            for name, c in commands.items():
                k = classify(c(copy), copy, refs[name])
                counts[name][k] = counts[name].get(k, 0) + 1
        print(f"| command ({a.trials} files, 8 random bytes each, seed {a.seed}) | error naming the file | same output | silent difference | crash | other |")
        print("|---|---|---|---|---|---|")
        for name, c in counts.items():
            print(f"| `dqss {name}` | {c.get('error', 0)} | {c.get('same', 0)} | {c.get('silent', 0)} | {c.get('crash', 0)} | {c.get('other', 0)} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
