#!/usr/bin/env python
"""Phase 1B: Pearson and Spearman of ELP_net vs micro-training utility (overall and per
quadrant, paired bootstrap CIs), mean utility per quadrant, and the cpt_spearman gate ->
cpt_correlation.json. With gates.strict a failing gate exits non-zero."""

import sys

from teachable.workflow import scripting
from teachable.io import InputError, read_json, write_json
from teachable.labeling.validity import correlation_report
from teachable.stats.estimands import estimand_report, estimand_table


def main():
    p = scripting.parser(__doc__)
    scripting.add(p, "results", required=True, help="phase1b/micro_training_results.json")
    scripting.add(p, "out", required=True, help="phase1b/cpt_correlation.json")
    args = p.parse_args()
    cfg = scripting.setup(args)
    res = read_json(args.results)
    if not isinstance(res, dict) or "records" not in res:
        raise InputError(f"{args.results}: no 'records' list (not a micro_training_results.json)")
    gates = cfg["gates"]
    rep = correlation_report(res["records"], cfg["seed"], float(gates.get("cpt_spearman_min", 0.3)),
                             int(cfg["phase1b"].get("bootstrap_resamples", 9999)))
    rep["panel"] = res.get("panel")
    # matched estimands (issue 30 item 4): every CPT label on both outcomes vs the utility
    rep["estimands"] = estimand_report(res["records"], cfg["seed"], int(cfg["phase1b"].get("bootstrap_resamples", 9999)))
    print(estimand_table(rep["estimands"]))
    write_json(args.out, rep)
    g = rep["gate"]
    sp = rep["overall"]["spearman"]
    ci = f" CI [{g['ci'][0]:.2f}, {g['ci'][1]:.2f}]" if g["ci"] and None not in g["ci"] else ""
    print(f"Spearman({rep['x']}, utility) = {sp['r']}{ci} over {g['n']} snapshots; gate passed: {g['passed']}")
    if not g["passed"]:
        msg = f"gate cpt_spearman: {g['value']} < {g['threshold']}" + (f" ({g['note']})" if g.get("note") else "")
        print(("error: " if gates["strict"] else "warning: ") + msg, file=sys.stderr)
        if gates["strict"]:
            sys.exit(1)


if __name__ == "__main__":
    scripting.run(main)
