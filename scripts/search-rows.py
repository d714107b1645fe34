#!/usr/bin/env python3
"""Turn the rows of scripts/search-table.sh (one row per model and setting) into the paper's layout: one
table per model with the methods as rows (FP32, each uniform candidate, DQSS-None, the paper schedule, the
annealed search, the final selected + refined DQSS) and the settings as columns.

    scripts/search-table.sh > rows.md && scripts/search-rows.py < rows.md
    scripts/search-rows.py docs/results.md        # the DQSS rows already in the results
"""
import sys

METHODS = ["FP32", "Max_Abs", "KL", "EQ", "ADMM", "DQSS-None (soft)", "DQSS paper schedule (derived)",
           "DQSS annealed (derived)", "DQSS (selected + refined)"]


def rows(lines):
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        # model | setting | 9 figures | refinement start | changes
        if len(cells) == 13 and cells[1].startswith("W") and "A" in cells[1] and cells[0] != "model":
            try:
                values = [float(c.strip("*")) for c in cells[2:11]]
            except ValueError:
                continue
            yield cells[0], cells[1], values


def main():
    source = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    table = {}
    for model, setting, values in rows(source):
        table.setdefault(model, {})[setting] = values
    order = ["W8A8", "W4A8", "W8A4"]
    models = sorted(table, key=lambda m: (m.startswith("shufflenet"), m))
    for model in models:
        by_setting = table[model]
        settings = [s for s in order if s in by_setting] + sorted(s for s in by_setting if s not in order)
        print(f"**{model}** (top-1 %, test-jpeg; bold: the final DQSS at least as good as every uniform candidate)\n")
        print("| method | " + " | ".join(settings) + " |")
        print("|---|" + "---|" * len(settings))
        for i, name in enumerate(METHODS):
            cells = []
            for s in settings:
                v = by_setting[s][i]
                best_uniform = max(by_setting[s][1:5])
                mark = "**" if i == 8 and v >= best_uniform else ""
                cells.append(f"{mark}{v:.2f}{mark}")
            print(f"| {name} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
