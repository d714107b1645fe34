#!/usr/bin/env python3
"""The final network against the best other row of each run, with the test split's paired noise, from the
search.json files of `OUT=DIR scripts/search-table.sh` runs (binaries from the commit that added
`paired_with_final` on).

    scripts/paired-table.py DIR [DIR ...]     # each DIR/<model>-W?A?/search.json (or DIR/search.json)

Per run: the best other row (every uniform candidate and every peer row; ties: the earlier), the final
network's top-1 minus it, the paired standard error of that difference, the test images only the final
network / only that row classifies correctly, McNemar's exact two-sided p, and how many standard errors
the difference is. A |difference| below one or two standard errors is what two equally accurate networks
give on these test images."""
import glob, json, os, sys

files = sorted(f for d in sys.argv[1:] for f in glob.glob(os.path.join(d, "*", "search.json")) + glob.glob(os.path.join(d, "search.json")))
print("| model | setting | granularity | final | best other row | its top-1 | final − it | ± s.e. | only final right | only it right | McNemar p | in s.e. |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for f in files:
    d = json.load(open(f))
    paired = d.get("paired_with_final")
    if not paired:
        print(f"{f}: no paired_with_final (a binary before the paired comparison)", file=sys.stderr)
        continue
    others = set(d["candidates"]) | {p["name"] for p in d["peers"] if p["peer"] != "dqss"}
    rows = [p for p in paired if p["row"] in others]
    best = rows[0]
    for p in rows[1:]:
        if p["row_only"] - p["final_only"] > best["row_only"] - best["final_only"]: best = p
    top1 = d["dqss_top1"] - best["difference"]
    z = best["difference"] / best["standard_error"] if best["standard_error"] > 0 else 0.0
    print(f"| {d['model']} | {d['setting']} | {d.get('weight_granularity', 'tensor')} | {d['dqss_top1']:.2f} | {best['row']} | {top1:.2f} "
          f"| {best['difference']:+.2f} | {best['standard_error']:.2f} | {best['final_only']} | {best['row_only']} "
          f"| {best['p_value']:.3f} | {z:+.1f} |")
