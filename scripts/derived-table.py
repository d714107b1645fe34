#!/usr/bin/env python3
"""The annealed search's derived network with and without `--gumbel-straight-through`, from the search.json
files of two sets of `OUT=DIR scripts/search-table.sh` runs (same models, settings and SEED; one with
GUMBEL_ST=1).

    scripts/derived-table.py PLAIN_DIR GUMBEL_DIR [PLAIN_DIR GUMBEL_DIR ...]   # each DIR/<model>-W?A?/search.json

Per model and setting: the seed, the best uniform candidate, DQSS-None, and for each search its derived
network's top-1 on the test split and its validation score (KL to FP32 on the held-out images, lower is
better), then the differences (Gumbel − plain). The seed changes the calibration images, so the uniform rows
differ between seeds but not within one."""
import glob, json, os, sys


def runs(d):
    out = {}
    for f in glob.glob(os.path.join(d, "*", "search.json")):
        j = json.load(open(f))
        s = [x for x in j["searches"] if x["schedule"] == "annealed"][0]
        out[(j["model"], j["setting"])] = (j, s)
    return out


def top1(v):
    return v["top1"] if isinstance(v, dict) else v


args = sys.argv[1:]
if len(args) < 2 or len(args) % 2:
    sys.exit("usage: derived-table.py PLAIN_DIR GUMBEL_DIR [PLAIN_DIR GUMBEL_DIR ...]")
print("| model | setting | seed | best uniform | DQSS-None | derived, plain (val) | derived, Gumbel (val) | Gumbel − plain: top-1 | val |")
print("|---|---|---|---|---|---|---|---|---|")
for plain_dir, gumbel_dir in zip(args[0::2], args[1::2]):
    plain, gumbel = runs(plain_dir), runs(gumbel_dir)
    for key in sorted(plain.keys() & gumbel.keys()):
        (jp, sp), (jg, sg) = plain[key], gumbel[key]
        if sp.get("gumbel_straight_through") or not sg.get("gumbel_straight_through"):
            sys.exit(f"{key}: {plain_dir} must be the plain search and {gumbel_dir} the Gumbel one")
        name, best = max(jp["uniform"].items(), key=lambda kv: top1(kv[1]))
        vp, vg = jp["validation_scores"]["derived"], jg["validation_scores"]["derived"]
        seed = jp["command_line"].split("--seed ")[1].split()[0] if "--seed " in jp["command_line"] else "?"
        print(f"| {key[0]} | {key[1]} | {seed} | {name} {top1(best):.2f} | {jp['dqss_none_top1']:.2f} | "
              f"{sp['derived_top1']:.2f} ({vp:.4f}) | {sg['derived_top1']:.2f} ({vg:.4f}) | "
              f"{sg['derived_top1'] - sp['derived_top1']:+.2f} | {vg - vp:+.4f} |")
