"""Two-level inference and gates: every gate FAILS on a synthetic null and PASSES on a
synthetic positive (TEST-ONLY simulated data in the formats of docs/artifacts.md)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from teachable import gates as G
from teachable.evaluation import Models, tables
from teachable.labeling.validity import correlation_report
from teachable.selection.summary import order_gates
from teachable.stats import hierarchical as hier
from teachable.stats.power import correlation_n, correlation_power
from teachable.vocab import FORMATS, QUADRANTS

KW = {"confidence": 0.95, "n_resamples": 1000, "seed": 0, "min_seeds": 3, "alpha": 0.05}
T = G.thresholds({})
RUNS = ["B1_uniform", "B2_all"] + [f"{q}_{f}" for q in QUADRANTS for f in FORMATS]


# ------------------------------------------------------------------ simulated episodes

def episodes(task_p, panel_p, n_seeds=4, n_tasks=80, n_panel=20, seed=0) -> pd.DataFrame:
    """Per-episode rows: task_p(run) -> success prob on tasks; panel_p(run, quadrant) ->
    success prob on that quadrant's panel items. BASE is one deterministic row (seed 0)."""
    rng = np.random.default_rng(seed)
    rows = []
    for rid in ["BASE", *RUNS]:
        for s in ([0] if rid == "BASE" else range(n_seeds)):
            for t in range(n_tasks):
                rows.append({"run_id": rid, "seed": s, "kind": "task", "item": f"t{t}", "family": "goto", "quadrant": "",
                             "success": int(rng.random() < task_p(rid)), "steps": 10, "repeat_rate": 0.2,
                             "loop": int(rng.random() < 0.3)})
            for q in QUADRANTS:
                for i in range(n_panel):
                    rows.append({"run_id": rid, "seed": s, "kind": "panel", "item": f"{q}_{i}", "family": "goto",
                                 "quadrant": q, "success": int(rng.random() < panel_p(rid, q)), "steps": 5,
                                 "repeat_rate": 0.1, "loop": 0})
    return pd.DataFrame(rows)


def quad_of(rid):
    return next((q for q in QUADRANTS if rid.startswith(q)), "")


NULL = episodes(lambda r: 0.4, lambda r, q: 0.4)
POS = episodes(lambda r: 0.75 if r == "Q1_highU_highL_hint" else 0.55 if r.endswith("_hint") else 0.4,
               lambda r, q: 0.9 if quad_of(r) == q and r.endswith("_hint") else 0.75 if quad_of(r) == q else 0.4)


# ------------------------------------------------------------------ two-level bootstrap

def test_coverage_null_and_effect_pinned():
    """docs/statistics.md: 200 simulated datasets, 3 seeds x 64 tasks (B = 500 here)."""
    null = hier.coverage(200, 3, 64, 0.0, n_resamples=500, seed=1)
    eff = hier.coverage(200, 3, 64, 0.2, n_resamples=500, seed=1)
    assert 0.90 <= null.coverage <= 0.99, null
    assert 0.90 <= eff.coverage <= 0.99, eff
    assert null.power <= 0.10 and eff.power >= 0.5, (null.power, eff.power)


def test_seed_only_bootstrap_undercovers_where_two_level_does_not():
    """The old unit (per-seed means, tasks fixed) ignores task sampling: with a task-specific
    training effect it covers far less than 95%."""
    rng = np.random.default_rng(3)
    old = new = 0
    n = 200
    for i in range(n):
        c, t = hier.simulate_binary(rng, 5, 64, 0.0, 0.02, 0.2)
        d = (t - c).mean(axis=1)
        idx = rng.integers(0, 5, size=(1000, 5))
        lo, hi = np.quantile(d[idx].mean(axis=1), [0.025, 0.975])
        old += lo <= 0 <= hi
        ci = hier.paired_diff(c, t, n_resamples=1000, seed=i)
        new += ci.low <= 0 <= ci.high
    assert old / n < 0.80 and 0.90 <= new / n <= 0.99, (old / n, new / n)


def test_pairing_by_task_and_too_few_seeds():
    rng = np.random.default_rng(0)
    c = (rng.random((1, 50)) < 0.5).astype(float)
    t = np.repeat(np.clip(c + 0.1, 0, 1.1), 3, axis=0)  # the same +0.1 on every task and seed
    ci = hier.paired_diff(c, t, n_resamples=500)
    assert ci.point == pytest.approx(0.1) and ci.low == pytest.approx(0.1) and ci.high == pytest.approx(0.1)
    two = hier.paired_diff(c, t[:2], n_resamples=500)
    assert two.low is None and two.high is None and two.note.startswith("too few seeds")
    assert ci.ci_unit == "seeds×tasks" and json.dumps(two.to_dict(), allow_nan=False)


def test_max_bound_pays_for_the_choice():
    rng = np.random.default_rng(0)
    pts = np.zeros(3)
    draws = rng.normal(0, 0.1, size=(4000, 3))
    top, low, p = hier.max_bound(pts, draws)
    assert top == 0 and low < -0.1 and p > 0.3


def test_correlation_power_numbers():
    assert correlation_n(0.3) == 85
    assert correlation_power(0.3, 24) < 0.35 < 0.8 < correlation_power(0.3, 100)


# ------------------------------------------------------------------ tables

def records(ep):
    return [{"run_id": r, "seed": int(s), "metrics": {}} for r, s in ep[["run_id", "seed"]].drop_duplicates().values]


def test_tables_two_level_columns_and_too_few_seeds():
    st = {"confidence": 0.95, "n_resamples": 500, "seed": 0, "alpha": 0.05, "min_seeds": 3}
    out = tables(records(POS), st, POS)
    ov = out["overall_task_results"].set_index("run_id")
    assert (ov.loc[RUNS, "ci_unit"] == "seeds×tasks").all()
    hint = ov.loc["Q1_highU_highL_hint"]
    assert hint.delta_base_ci_low > 0.2 and hint.n_tasks == 80 and hint.n_seeds == 4
    assert hint.ci_low <= hint["mean"] <= hint.ci_high
    two = POS[POS.seed < 2]
    ov2 = tables(records(two), st, two)["overall_task_results"].set_index("run_id")
    assert ov2.loc[RUNS, "ci_low"].isna().all() and ov2.loc[RUNS, "ci_note"].str.startswith("too few seeds").all()
    tr = out["transfer_matrix"]
    d = tr[tr.train_quadrant == tr.panel_quadrant]
    assert (d.ci_low > 0).all() and set(out) >= {"retention_results", "stuckness_results", "per_quadrant_results"}


# ------------------------------------------------------------------ gates: null fails, positive passes

def verdict(gs, name=None):
    g = gs[0] if name is None else next(x for x in gs if x["name"] == name)
    json.dumps(g, allow_nan=False)
    return g["passed"]


@pytest.mark.parametrize("fn", [G.supervision_differentiation, G.transfer_diagonal, G.panel_gain,
                                G.best_quadrant_vs_b1])
def test_episode_gates_fail_on_null_pass_on_positive(fn):
    assert verdict(fn(Models(NULL), T, KW)) is False
    assert verdict(fn(Models(POS), T, KW)) is True


def test_episode_gates_not_evaluated_with_two_seeds():
    m = Models(POS[POS.seed < 2])
    for fn in (G.supervision_differentiation, G.transfer_diagonal, G.panel_gain, G.best_quadrant_vs_b1):
        g = fn(m, T, KW)[0]
        assert g["passed"] is None and "too few seeds" in g["note"]


def snapshots(n=200, seed=0, elp_shift=0.0, placebo=0.0, route=None, balanced=True):
    rng = np.random.default_rng(seed)
    p = [0.25] * 4 if balanced else [0.49, 0.49, 0.01, 0.01]
    out = []
    for i in range(n):
        qi = int(rng.choice(4, p=p))
        pb = float(rng.choice([0, 0.25, 0.5]))
        elp = float(rng.normal(elp_shift * (qi == 0), 0.2))
        out.append({"snapshot_id": f"t{i // 2}_step{i % 2:04d}_k0", "quadrant": QUADRANTS[qi], "p_base": pb,
                    "p_placebo": pb + placebo + float(rng.choice([-0.05, 0, 0.05])),
                    "ELP_net": elp, "ELP_net_xfit": elp,
                    "route_net": route or FORMATS[int(rng.integers(0, 3))]})
    return out


def test_snapshot_gates_fail_on_null_pass_on_positive():
    assert verdict(G.quadrant_share(snapshots(balanced=False), T, KW)) is False
    assert verdict(G.quadrant_share(snapshots(), T, KW)) is True
    assert verdict(G.placebo_sanity(snapshots(placebo=0.3), T, KW)) is False
    assert verdict(G.placebo_sanity(snapshots(n=20, placebo=0.09), T, KW)) is False  # cannot show equivalence
    assert verdict(G.placebo_sanity(snapshots(), T, KW)) is True
    assert verdict(G.elp_heterogeneity(snapshots(), T, KW)) is False
    assert verdict(G.elp_heterogeneity(snapshots(elp_shift=0.5), T, KW)) is True


def test_route_accuracy_fails_on_null_passes_on_positive():
    """POS: hint is every quadrant's best format in phase 3. Routing everything to hint is
    exactly the majority-route baseline, so it carries no information and fails (the positive
    with routes that differ by quadrant is in tests/test_verdicts.py)."""
    assert verdict(G.route_accuracy(Models(POS), snapshots(), T, KW)) is False  # random routes: ~1/3
    assert verdict(G.route_accuracy(Models(POS), snapshots(route="demo"), T, KW)) is False
    g = G.route_accuracy(Models(POS), snapshots(route="hint"), T, KW)[0]
    assert g["value"] == 1.0 and g["majority_baseline_accuracy"] == 1.0 and g["passed"] is False


def micro_records(n=24, slope=0.0, q1_bonus=0.0, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        q = QUADRANTS[i % 4]
        elp = float(rng.normal(0, 1))
        u = slope * elp + (q1_bonus if q == QUADRANTS[0] else 0) + float(rng.normal(0, 1))
        out.append({"snapshot_id": f"m{i}_step0001_k0", "quadrant": q, "ELP_net": elp, "ELP_net_xfit": elp,
                    "utility": u})
    return out


def test_micro_gates_fail_on_null_pass_on_positive():
    def cpt(recs):
        return G.cpt_spearman(correlation_report(recs, 0, 0.3, 1000), T, KW)

    assert verdict(cpt(micro_records(100))) is False
    assert verdict(cpt(micro_records(100, slope=1.0))) is True
    per_q = cpt(micro_records(24, slope=1.0))
    assert all(g["passed"] is None and "not gated" in g["note"] for g in per_q[1:])  # 6 per quadrant < 20
    assert verdict(cpt(micro_records(100, slope=2.0)), "cpt_spearman_Q1_highU_highL") is True
    assert verdict(G.utility_q1_gt_q2(micro_records(48), T, KW)) is False
    assert verdict(G.utility_q1_gt_q2(micro_records(48, q1_bonus=2.0), T, KW)) is True


def test_retention_gate_on_ci_upper_bound(tmp_path):
    def csv(rows):
        p = tmp_path / "r.csv"
        pd.DataFrame(rows, columns=["run_id", "retention_drop", "drop_ci_low", "drop_ci_high"]).to_csv(p, index=False)
        return p

    assert verdict(G.retention_drop(csv([["a", 0.05, 0.0, 0.2]]), T, KW)) is False  # CI reaches past 0.1
    assert verdict(G.retention_drop(csv([["a", 0.02, 0.0, 0.06]]), T, KW)) is True
    assert verdict(G.retention_drop(csv([["a", 0.02, None, None]]), T, KW)) is None


def test_selection_order_is_strict_and_listed_gates_restated(tmp_path):
    scfg = {"gate_margin": 0.0, "gate_pairs": [["predictor", "random"]], "gate_metrics": ["m"],
            "bootstrap_resamples": 999}
    tie = {"predictor": {s: {"m": 0.5} for s in range(4)}, "random": {s: {"m": 0.5} for s in range(4)}}
    better = {"predictor": {s: {"m": 0.6 + 0.01 * s} for s in range(4)}, "random": {s: {"m": 0.5} for s in range(4)}}
    assert order_gates(tie, list(range(4)), scfg, 0)[0]["passed"] is False
    assert order_gates(better, list(range(4)), scfg, 0)[0]["passed"] is True
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"gates": [{"name": "x", "value": 0.1, "ci": [-0.2, 0.3], "threshold": 0.0,
                                        "passed": True}]}))
    g = G.listed_gates(p)[0]
    assert g["passed"] is False and g["passed_upstream"] is True


def test_collect_gates_all_sources_and_missing(tmp_path):
    snap = tmp_path / "s.jsonl"
    snap.write_text("".join(json.dumps(s) + "\n" for s in snapshots()))
    ep = tmp_path / "episodes.csv"
    POS.to_csv(ep, index=False)
    gates = G.collect_gates({"snapshots": str(snap), "episodes": str(ep)}, {}, 0, {"n_resamples": 500})
    by = {g["name"]: g for g in gates}
    assert by["transfer_diagonal"]["passed"] is True and by["placebo_sanity"]["passed"] is True
    assert by["cpt_spearman"]["passed"] is None and "missing" in by["cpt_spearman"]["note"]
    assert all({"name", "value", "ci", "threshold", "passed", "source"} <= set(g) for g in gates)
    json.dumps(gates, allow_nan=False)


def test_selection_summary_two_level_from_episodes():
    """Phase 5 with per-episode rows: CIs over seeds x items; ties fail; 2 seeds: no verdict."""
    from teachable.selection.summary import summarize

    rng = np.random.default_rng(0)
    p = {"random": 0.4, "entropy": 0.4, "predictor": 0.7, "oracle": 0.7}
    rows, ev = [], []
    for m, pm in p.items():
        for s in range(4):
            succ = (rng.random(80) < pm).astype(int)
            rows += [{"run_id": f"selection_{m}", "seed": s, "kind": "task", "item": f"t{i}", "quadrant": "",
                      "success": int(v)} for i, v in enumerate(succ)]
            ev.append({"run_id": f"selection_{m}", "method": m, "method_used": m, "seed": s,
                       "metrics": {"task_success": float(succ.mean())}})
    scfg = {"methods": list(p), "metrics": ["task_success"], "baseline": "random", "bootstrap_resamples": 500,
            "gate_margin": 0.0, "gate_metrics": ["task_success"],
            "gate_pairs": [["predictor", "random"], ["oracle", "predictor"]]}
    summ, table = summarize(ev, {}, scfg, 0, episodes=pd.DataFrame(rows))
    g = {x["name"]: x for x in summ["gates"]}
    assert g["selection_predictor_ge_random_task_success"]["passed"] is True
    assert g["selection_oracle_ge_predictor_task_success"]["passed"] is False  # equal arms: strict order fails
    assert g["selection_predictor_ge_random_task_success"]["ci_unit"] == "seeds×tasks"
    assert (table.ci_unit == "seeds×tasks").all()
    two = [e for e in ev if e["seed"] < 2]
    summ2, _ = summarize(two, {}, scfg, 0, episodes=pd.DataFrame([r for r in rows if r["seed"] < 2]))
    assert all(x["passed"] is None and "too few seeds" in x["ci_note"] for x in summ2["gates"])


def relabel_pairs(n, noise, seed=0):
    """(first, retest) label dicts: a shared truth plus independent noise per labeling."""
    rng = np.random.default_rng(seed)
    first, second = [], []
    for i in range(n):
        truth = float(rng.random())
        base = {"snapshot_id": f"t{i}_step0001_k0", "U": float(rng.random()), "quadrant": QUADRANTS[i % 4]}
        first.append({**base, **{k: truth + noise * float(rng.standard_normal()) for k in ("L_local", "ELP_net")}})
        second.append({**base, **{k: truth + noise * float(rng.standard_normal()) for k in ("L_local", "ELP_net")}})
    return first, second


def test_label_reliability_gate_is_about_the_ci_lower_bound(tmp_path):
    """Null (independent labels) fails, positive passes, and a point estimate above the
    threshold with a lower bound below it (few snapshots) fails too."""
    from teachable.io import write_json
    from teachable.labeling.reliability import report

    mins = {"L_local": 0.6, "ELP_net": 0.5}
    th = {"U_threshold": 0.5, "L_threshold": 0.5}
    null = report(*relabel_pairs(40, 0.0, 1)[:1], relabel_pairs(40, 0.0, 2)[1], th, mins, 6, 40)
    assert null["gate"]["passed"] is False
    pos = report(*relabel_pairs(40, 0.05), th, mins, 6, 40)
    g = pos["gate"]
    assert g["passed"] is True and g["spearman_ci"]["L_local"]["low"] >= 0.6
    few = report(*relabel_pairs(10, 0.12, 3), th, mins, 6, 40)["gate"]
    assert few["spearman"]["L_local"] >= 0.6 and few["spearman_ci"]["L_local"]["low"] < 0.6
    assert few["passed"] is False
    write_json(tmp_path / "r.json", pos)
    assert verdict(G.label_reliability(tmp_path / "r.json")) is True


def test_teachable_gates_prints_every_gate_with_its_verdict(tmp_path, capsys):
    from teachable.cli import main

    gates = [{"name": "cpt_spearman", "value": 0.31, "ci": [0.12, 0.48], "threshold": 0.0, "passed": True,
              "source": "x", "rule": "CI lower bound > threshold"},
             {"name": "retention_drop", "value": 0.2, "ci": None, "threshold": 0.1, "passed": False, "source": "y"},
             {"name": "panel_gain", "value": None, "ci": None, "threshold": 0.0, "passed": None, "source": "z",
              "note": "input missing"}]
    path = tmp_path / "gates.json"
    path.write_text(json.dumps(gates))
    assert main(["gates", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| cpt_spearman | - | - | - | 0.310 | [0.120, 0.480] | 0.000 | - | pass | CI lower bound > threshold |" in out
    assert "| retention_drop | - | - | - | 0.200 | - | 0.100 | - | **FAIL** |" in out
    assert "| not evaluated | input missing |" in out
    assert "3 tests (Holm within family): 1 passed, 1 failed, 1 not evaluated" in out
    path.write_text('{"name": "x"}')
    assert main(["gates", str(path)]) == 2
    assert "not a gates file" in capsys.readouterr().err
