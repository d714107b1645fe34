#!/usr/bin/env python3
"""Turn the rows of scripts/search-table.sh (one row per model and setting) into the paper's layout: one
table per model with the methods as rows (FP32, each uniform candidate, DQSS-None, the paper schedule, the
annealed search, the final selected + refined DQSS) and the settings as columns.

    scripts/search-table.sh > rows.md && scripts/search-rows.py < rows.md
    scripts/search-rows.py docs/results.md        # the DQSS rows already in the results

The columns of a row are those of the table header above it, so any candidate list works (CANDIDATES of
scripts/search-table.sh); rows searched over different candidate lists go into separate tables.
"""
import sys

# The columns after FP32 and the uniform candidates, in scripts/search-table.sh's order.
TAIL = ["DQSS-None (soft)", "DQSS paper schedule (derived)", "DQSS annealed (derived)", "DQSS (selected + refined)"]


def rows(lines):
    """(model, setting, methods, values) for every search row, methods read from the last header."""
    methods = None
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and cells[0] == "model" and "DQSS-None (soft)" in cells:
            # | model | setting | FP32 | candidates ... | TAIL ... | refinement start | changes |
            methods = cells[2:cells.index(TAIL[-1]) + 1]
            continue
        if methods and len(cells) == len(methods) + 4 and cells[1].startswith("W") and "A" in cells[1]:
            try:
                values = [float(c.strip("*")) for c in cells[2:2 + len(methods)]]
            except ValueError:
                continue
            yield cells[0], cells[1], tuple(methods), values


def main():
    source = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    table = {}
    for model, setting, methods, values in rows(source):
        table.setdefault((model, methods), {})[setting] = values
    order = ["W8A8", "W4A8", "W8A4"]
    keys = sorted(table, key=lambda k: (k[0].startswith("shufflenet"), k[0], len(k[1])))
    for model, methods in keys:
        by_setting = table[(model, methods)]
        candidates = methods[1:len(methods) - len(TAIL)]
        settings = [s for s in order if s in by_setting] + sorted(s for s in by_setting if s not in order)
        over = "" if len(candidates) == 4 else f" over {len(candidates)} candidates"
        print(f"**{model}**{over} (top-1 %, test-jpeg; bold: the final DQSS at least as good as every uniform candidate)\n")
        print("| method | " + " | ".join(settings) + " |")
        print("|---|" + "---|" * len(settings))
        for i, name in enumerate(methods):
            cells = []
            for s in settings:
                v = by_setting[s][i]
                best_uniform = max(by_setting[s][1:1 + len(candidates)])
                mark = "**" if i == len(methods) - 1 and v >= best_uniform else ""
                cells.append(f"{mark}{v:.2f}{mark}")
            print(f"| {name} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
