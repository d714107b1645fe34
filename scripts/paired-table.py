#!/usr/bin/env python3
"""The final network against the best other row of each run, with the test split's paired noise, from the
search.json files of `OUT=DIR scripts/search-table.sh` runs (binaries from the commit that added
`paired_with_final` on).

    scripts/paired-table.py DIR [DIR ...]     # each DIR/<model>-W?A?/search.json (or DIR/search.json)

Per run: the best other row (every uniform candidate and every peer row; ties: the earlier), the final
network's top-1 minus it, the paired standard error of that difference, the test images only the final
network / only that row classifies correctly, McNemar's exact two-sided p, and how many standard errors
the difference is. A |difference| below one or two standard errors is what two equally accurate networks
give on these test images.

Runs from the commit that added `fidelity_to_fp32` on also print, for the final network and that row, the
share of test images whose top-1 class is the FP32 network's, the mean KL to FP32 on the test images, and
the final network's KL minus the row's, paired over the images, in standard errors: whether the network
the run chose is the closer one to FP32 on test, the quantity its validation score estimates."""
import glob, json, os, sys

def fidelity(d, row):
    rows = {f["row"]: f for f in d.get("fidelity_to_fp32", [])}
    final, other = rows.get("DQSS final"), rows.get(row)
    if not final or not other:
        return "– | – | – |"
    se = other["kl_standard_error"]
    z = other["kl_final_minus_row"] / se if se > 0 else 0.0
    return (f"{final['agreement']:.2f} / {other['agreement']:.2f} | {final['kl']:.4f} / {other['kl']:.4f} "
            f"| {other['kl_final_minus_row']:+.4f} ({z:+.1f}) |")


files = sorted(f for d in sys.argv[1:] for f in glob.glob(os.path.join(d, "*", "search.json")) + glob.glob(os.path.join(d, "search.json")))
print("| model | setting | granularity | final | best other row | its top-1 | final − it | ± s.e. | only final right | only it right | McNemar p | in s.e. "
      "| agrees with FP32: final / it (%) | KL to FP32: final / it | KL final − it (in s.e.) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
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
          f"| {best['p_value']:.3f} | {z:+.1f} | {fidelity(d, best['row'])}")

