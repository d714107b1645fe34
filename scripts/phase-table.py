#!/usr/bin/env python3
"""Per-row results and phase wall times of `OUT=DIR scripts/search-table.sh` runs, from their search.json files:
top-1 on test of every uniform candidate, the best of them, DQSS-None, the derived network and DQSS final with its
margin over the best uniform candidate; then the wall time of each phase (calibration of every candidate, AdaRound
included; the gradient searches; selection and refinements; test-split evaluations) and in all.

    scripts/phase-table.py DIR [DIR ...]      # each DIR/<model>-W?A?/search.json (or DIR/search.json), in that order
"""
import glob, json, os, sys


def files(d):
    return [os.path.join(d, "search.json")] if os.path.exists(os.path.join(d, "search.json")) \
        else sorted(glob.glob(os.path.join(d, "*", "search.json")))


runs = [json.load(open(f)) for d in sys.argv[1:] for f in files(d)]
if not runs:
    sys.exit("phase-table.py: no search.json under " + " ".join(sys.argv[1:]))
names = list(runs[0].get("candidates") or runs[0]["uniform"].keys())
print("| model | setting | " + " | ".join(names) +
      " | DQSS-None | derived | **DQSS final** | final − best uniform | calibrate (s) | search (s) | select + refine (s) | test evaluations (s) | all (min) |")
print("|---|---|" + "---|" * len(names) + "---|---|---|---|---|---|---|---|---|")
for d in runs:
    u = d["uniform"]
    best = max(u.values())
    t = d["timings"]
    cells = [d["model"], d["setting"]]
    cells += [f"{u[n]:.2f}" if n in u else "–" for n in names]
    cells += [f"{d['dqss_none_top1']:.2f}", f"{d['derived_top1']:.2f}", f"**{d['dqss_top1']:.2f}**",
              f"{d['dqss_top1'] - best:+.2f}", f"{t['calibration']:.0f}", f"{t['search']:.0f}",
              f"{t['selection']:.0f}", f"{t['evaluation']:.0f}", f"{d['seconds'] / 60:.1f}"]
    print("| " + " | ".join(cells) + " |")
