#!/usr/bin/env python3
"""The "Three starts, and selection images" table of docs/results.md from the search.json files of
`OUT=DIR scripts/search-table.sh` runs made with PEERS=all and SELECT_IMAGES (and REFINE_FROM both or all).

    scripts/refinement-table.py DIR [DIR ...]     # each DIR/<model>-W?A?/search.json, rows in that order

Per row: the best uniform candidate on test, DQSS-None, the derived network, each refinement's top-1 with its
validation / selection score, the sensitivity + greedy peer's, which refinement each rule keeps (two starts or
three, by the validation or the selection score), and the default's (`all`, validation) margin over the best
other row of the run (every uniform candidate and every peer)."""
import glob, json, os, sys

print("| model | setting | best uniform | DQSS-None | derived | refined from derived: top-1 (val / sel) | refined from best uniform: start, top-1 (val / sel) | sensitivity + greedy: top-1 (val / sel) | kept: both, val | both, sel | **all, val** (default) | all, sel | default − best other row | wall (min) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for f in sorted(f for d in sys.argv[1:] for f in glob.glob(os.path.join(d, "*", "search.json"))):
    d = json.load(open(f))
    model, setting = os.path.basename(os.path.dirname(f)).rsplit("-", 1)
    u = d["uniform"] if isinstance(d["uniform"], dict) else {x.get("name", x.get("method")): x["top1"] for x in d["uniform"]}
    best_uniform = max(u, key=u.get)
    refinements = {r["start"]: r for r in d["refinements"]}
    peers = {p["peer"]: p for p in d["peers"]}
    sg = peers["sensitivity-greedy"]
    # The sensitivity refinement: DQSS's own with --refine-from all, else the peer (the same computation).
    sens = refinements.get("sensitivity") or {k: sg[k] for k in ("validation_score", "selection_score", "top1")}
    uniform_start = [k for k in refinements if k not in ("derived", "sensitivity")][0]
    two = {"derived": refinements["derived"], uniform_start: refinements[uniform_start]}
    three = dict(two, sensitivity=sens)

    def fmt(r): return f"{r['top1']:.2f} ({r['validation_score']:.4f} / {r['selection_score']:.4f})"
    def keep(rs, key): k = min(rs, key=lambda k: rs[k][key]); return k, rs[k]["top1"]
    def label(k): return {"sensitivity": "sens."}.get(k[0], k[0]) + f" {k[1]:.2f}"
    default = keep(three, "validation_score")
    best_other = max([u[best_uniform]] + [p["top1"] for p in d["peers"] if p["peer"] != "dqss"])
    print(f"| {model} | {setting} | {best_uniform} {u[best_uniform]:.2f} | {d['dqss_none_top1']:.2f} | {d['derived_top1']:.2f} "
          f"| {fmt(refinements['derived'])} | {uniform_start} {fmt(refinements[uniform_start])} | {fmt(sens)} "
          f"| {label(keep(two, 'validation_score'))} | {label(keep(two, 'selection_score'))} | **{label(default)}** "
          f"| {label(keep(three, 'selection_score'))} | {default[1] - best_other:+.2f} | {d['seconds'] / 60:.1f} |")
