#!/usr/bin/env python3
"""Every row of each run by its fidelity to FP32 on the test images, beside its top-1 and the validation score
the run chose by, from the search.json files of `OUT=DIR scripts/search-table.sh` runs (binaries from the
commit that added `fidelity_to_fp32` on).

    scripts/fidelity-table.py DIR [DIR ...]     # each DIR/<model>-W?A?/search.json (or DIR/search.json)

Per run, one row per network (sorted by KL to FP32 on test, FP32 itself left out): top-1 on test, the share of
test images with FP32's top-1 class, the mean KL(softmax(FP32) ‖ softmax(row)) on test, the row's validation
score (KL to FP32 on the held-out training images; "–" where the run did not score that network), and the
final network's test KL minus the row's in paired standard errors. Then, over the rows with a validation
score, Spearman's rank correlation of the validation score with the test KL, and over all rows but FP32 and
DQSS-None (the soft mixture, not a deployable network), of the test KL with top-1: whether the score the run
chooses by ranks the networks as the test images do, in its own measure and in top-1."""
import glob, json, os, sys


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):           # ties: the mean rank
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]: j += 1
        for k in range(i, j + 1): r[order[k]] = (i + j) / 2
        i = j + 1
    return r


def spearman(a, b):
    if len(a) < 3: return float("nan")
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va, vb = sum((x - ma) ** 2 for x in ra), sum((y - mb) ** 2 for y in rb)
    return cov / (va * vb) ** 0.5 if va > 0 and vb > 0 else float("nan")


def validation_scores(d):
    """Row label (as in fidelity_to_fp32) -> the run's validation score of that network."""
    v = dict(d["validation_scores"])
    s = {name: v[name] for name in d["candidates"] if name in v}
    if "derived" in v and d["searches"]:
        s[f"DQSS {d['searches'][-1]['schedule']} derived"] = v["derived"]
    for r in d["refinements"]:
        s["DQSS final" if r["kept"] else f"refined from {r['start']}"] = r["validation_score"]
    for p in d["peers"]:
        if p["peer"] != "dqss" and p.get("validation_score") is not None: s[p["name"]] = p["validation_score"]
    s["FP32"] = 0.0
    return s


files = sorted(f for d in sys.argv[1:] for f in glob.glob(os.path.join(d, "*", "search.json")) + glob.glob(os.path.join(d, "search.json")))
for f in files:
    d = json.load(open(f))
    fid = d.get("fidelity_to_fp32")
    if not fid:
        print(f"{f}: no fidelity_to_fp32 (a binary before the fidelity to FP32)", file=sys.stderr)
        continue
    top1 = {"DQSS final": d["dqss_top1"], "FP32": d["fp32_top1"]}
    for p in d["paired_with_final"]:
        top1[p["row"]] = d["dqss_top1"] - p["difference"]
    val = validation_scores(d)
    print(f"\n{d['model']} {d['setting']} ({d.get('weight_granularity', 'tensor')}), {d['test_images']} test images, "
          f"{d['validation_images']} validation images\n")
    print("| row | top-1 | agrees with FP32 (%) | KL to FP32, test | validation score | final's test KL − it (s.e.) |")
    print("|---|---|---|---|---|---|")
    rows = sorted((r for r in fid if r["row"] != "FP32"), key=lambda r: r["kl"])
    for r in rows:
        se = r["kl_standard_error"]
        z = f"{r['kl_final_minus_row']:+.4f} ({r['kl_final_minus_row'] / se:+.1f})" if se > 0 else "–"
        v = f"{val[r['row']]:.4f}" if r["row"] in val else "–"
        print(f"| {r['row']} | {top1.get(r['row'], float('nan')):.2f} | {r['agreement']:.2f} | {r['kl']:.4f} | {v} | {z} |")
    scored = [r for r in rows if r["row"] in val]
    deployable = [r for r in rows if r["row"] != "DQSS-None"]
    print(f"\nSpearman: validation score vs test KL {spearman([val[r['row']] for r in scored], [r['kl'] for r in scored]):+.2f} "
          f"({len(scored)} rows); test KL vs top-1 {spearman([r['kl'] for r in deployable], [-top1[r['row']] for r in deployable]):+.2f} "
          f"({len(deployable)} rows)")
