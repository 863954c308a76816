"""Registry, provenance and CLI on synthetic run directories written in the pipeline's
file formats (run.json, metrics.jsonl, phase3/runs/{run_id}/seed{seed}.json)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from teachable.cli import main
from teachable.io import InputError, write_json, write_jsonl
from teachable.workflow.provenance import collect_provenance, git_info, record_run
from teachable.registry import Registry, build_registry

SRC = Path(__file__).resolve().parents[1] / "src"
SEEDS = (0, 1, 2)
BASE_CONFIG = {"student": {"base_model": "bootstrap"},
               "training": {"lr": 0.001, "epochs": 2, "seeds": list(SEEDS), "lora_r": 8}}


def _config(run_id: str, seed: int, lr: float = 0.001) -> dict:
    cfg = json.loads(json.dumps(BASE_CONFIG))
    cfg["training"]["lr"] = lr
    quadrant, fmt = (run_id.split("_") + ["demo"])[:2]
    cfg["run"] = {"run_id": run_id, "seed": seed, "quadrant": quadrant, "format": fmt}
    return cfg


def _write_run(results: Path, rel: str, run_id: str, seed: int, stage: str, *, status="done",
               lr=0.001, probe_gain=0.0, metrics=None, with_curve=True) -> Path:
    run_dir = results / rel
    rng = np.random.default_rng(1000 * seed + len(run_id))
    cfg = _config(run_id, seed, lr)
    write_json(run_dir / "run.json", {
        "run_id": run_id, "seed": seed, "stage": stage, "status": status, "config": cfg,
        "provenance": collect_provenance(cfg, seed, "cpu"), "wall_time_s": 12.5 + seed,
        "n_examples": 40, "n_tokens": 4000 + seed, "adapter_path": str(Path(rel) / "adapter"),
        "metrics": metrics if metrics is not None else {"final_loss": float(0.5 - 0.1 * probe_gain + 0.01 * seed)}})
    (run_dir / "adapter").mkdir(exist_ok=True)
    if with_curve:
        rows = []
        for step in range(0, 101, 10):
            rows.append({"step": step, "loss": float(2.0 * np.exp(-step / 40) + 0.05 * rng.random()),
                         "lr": lr})
            if step % 20 == 0:
                rows.append({"step": step, "epoch": step // 50,
                             "probe_success": float(min(1.0, 0.2 + probe_gain * step / 100 + 0.05 * rng.random()))})
        write_jsonl(run_dir / "metrics.jsonl", rows)
    return run_dir


def make_results(root: Path) -> Path:
    """A results dir: three phase2 run_ids x 3 seeds, a failed and a running run, phase3
    evaluations (with BASE), a selection run and a validation run sharing a phase2 run_id."""
    results = root / "results"
    gains = {"Q1_demo": 0.1, "Q1_hint": 0.4, "B1_uniform": 0.0}
    succ = {"BASE": 0.30, "Q1_demo": 0.36, "Q1_hint": 0.45, "B1_uniform": 0.31}
    for run_id, gain in gains.items():
        for s in SEEDS:
            _write_run(results, f"phase2/{run_id}/seed{s}", run_id, s, "phase2",
                       lr=0.002 if run_id == "Q1_hint" else 0.001, probe_gain=gain)
    for run_id, base in succ.items():
        for s in SEEDS:
            write_json(results / "phase3" / "runs" / run_id / f"seed{s}.json", {
                "run_id": run_id, "seed": s,
                "metrics": {"task_success": round(base + 0.02 * s + (0.01 if s == 1 else 0), 4),
                            "retention_drop": 0.01 * s, "panel_success": base + 0.1}})
    _write_run(results, "phase2/Q2_demo/seed0", "Q2_demo", 0, "phase2", status="failed",
               metrics={}, with_curve=False)
    _write_run(results, "phase2/Q2_demo/seed1", "Q2_demo", 1, "phase2", status="running",
               metrics={}, with_curve=False)
    _write_run(results, "phase5/selection/random/seed0", "random", 0, "selection",
               metrics={"task_success": 0.33})
    _write_run(results, "validation/Q1_demo/seed0", "Q1_demo", 0, "validation",
               metrics={"task_success": 0.5})
    _write_run(results, "validation/random/seed0", "random", 0, "validation",
               metrics={"task_success": 0.34})
    return results


@pytest.fixture()
def results(tmp_path):
    return make_results(tmp_path)


@pytest.fixture()
def indexed(results):
    build_registry(results)
    return results


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def cli_json(capsys, *argv):
    rc, out, err = run_cli(capsys, *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


# -- provenance ---------------------------------------------------------------------------
def test_collect_provenance_fields():
    p = collect_provenance({"a": 1}, 3, "cpu")
    assert p["seed"] == 3 and p["device"] == "cpu"
    assert set(p["versions"]) >= {"torch", "transformers", "peft", "numpy"}
    assert p["versions"]["numpy"] == np.__version__
    assert p["python"].count(".") == 2 and p["host"]
    assert p["collected_at_utc"].endswith("+00:00")
    json.dumps(p)


def test_git_absent_or_not_a_repo_gives_null(tmp_path, monkeypatch):
    assert git_info(tmp_path) == {"commit": None, "dirty": None, "root": None}
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable
    assert git_info() == {"commit": None, "dirty": None, "root": None}
    assert collect_provenance({}, 0, "cpu")["git"]["commit"] is None


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_commit_and_dirty_flag(tmp_path):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("x")
    subprocess.run(["git", "-C", str(tmp_path), "add", "f"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-qm", "c"], check=True, env=env)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    assert git_info(tmp_path) == {"commit": head, "dirty": False, "root": str(tmp_path)}
    (tmp_path / "f").write_text("y")
    assert git_info(tmp_path)["dirty"] is True


def test_record_run_done_and_failed(tmp_path):
    path = tmp_path / "r" / "run.json"
    with record_run(path, run_id="X", seed=1, stage="phase2", config={"a": 1}) as run:
        assert json.loads(path.read_text())["status"] == "running"
        run["metrics"] = {"loss": 0.5}
        run["n_examples"] = 3
    d = json.loads(path.read_text())
    assert d["status"] == "done" and d["metrics"] == {"loss": 0.5} and d["wall_time_s"] >= 0
    assert d["provenance"]["seed"] == 1 and d["finished_at"]
    with pytest.raises(RuntimeError):
        with record_run(path, run_id="X", seed=1, stage="phase2", config={}):
            raise RuntimeError("boom")
    d = json.loads(path.read_text())
    assert d["status"] == "failed" and d["error"] == "RuntimeError: boom"
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temp files left


# -- index --------------------------------------------------------------------------------
def _dump(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def test_index_content(results):
    rep = build_registry(results)
    assert rep.runs == 3 * 3 + 2 + 1 + 2 + 3 == 17 and rep.eval_only == 3
    with Registry(results / "registry.sqlite") as reg:
        keys = {(r["stage"], r["key"]) for r in reg.runs()}
        assert ("base", "BASE/seed0") in keys and ("selection", "random/seed0") in keys
        run = reg.select("phase2:Q1_hint/seed1")[0]
        assert reg.params(run["pk"])["training.lr"] == 0.002
        assert reg.params(run["pk"])["training.seeds"] == [0, 1, 2]
        m = reg.metrics(run["pk"])
        assert m["task_success"] == pytest.approx(0.45 + 0.02 + 0.01)  # merged from phase3
        assert reg.metric_sources(run["pk"])["task_success"] == "eval"
        assert reg.metric_sources(run["pk"])["final_loss"] == "run.json"
        rows = reg.step_rows(run["pk"])
        assert [r["step"] for r in rows if "probe_success" in r] == [0, 20, 40, 60, 80, 100]
        assert reg.checkpoints(run["pk"]) == [{"kind": "adapter", "path": "phase2/Q1_hint/seed1/adapter",
                                               "present": 1}]
        assert run["git_commit"] == collect_provenance({}, 0, "cpu")["git"]["commit"]
        assert len(reg.select("Q2_demo")) == 2


def test_index_twice_is_identical_and_atomic(results):
    db = results / "registry.sqlite"
    build_registry(results)
    first = _dump(db)
    build_registry(results)
    assert _dump(db) == first
    assert sorted(p.name for p in results.iterdir() if p.name.startswith(".")) == []


def test_index_rejects_bad_files_naming_them(results):
    bad = results / "phase2" / "Q1_demo" / "seed0" / "metrics.jsonl"
    bad.write_text(bad.read_text() + "{not json\n")
    with pytest.raises(InputError, match=r"seed0/metrics.jsonl:\d+: malformed JSON"):
        build_registry(results)
    rep = build_registry(results, skip_bad=True)
    assert len(rep.skipped) == 1 and rep.runs == 16
    bad.write_text("".join(bad.read_text().splitlines(keepends=True)[:-1]))
    assert build_registry(results).runs == 17
    write_json(results / "phase2" / "Q1_demo" / "seed1" / "run.json", {"run_id": "Q1_demo", "seed": 2})
    with pytest.raises(InputError, match=r"seed1/run.json: missing key\(s\) stage, status, config"):
        build_registry(results)


def test_index_rejects_seed_mismatch(results):
    p = results / "phase2" / "Q1_demo" / "seed0" / "run.json"
    d = json.loads(p.read_text())
    d["seed"] = 5
    write_json(p, d)
    with pytest.raises(InputError, match="seed 5 differs from its directory seed0"):
        build_registry(results)


def test_resolve_unknown_and_ambiguous(indexed):
    with Registry(indexed / "registry.sqlite") as reg:
        with pytest.raises(InputError, match=r"unknown run\(s\): nope, Q9_x/seed0"):
            reg.resolve(["nope", "Q1_demo", "Q9_x/seed0"])
        with pytest.raises(InputError, match="selection:random/seed0, validation:random/seed0"):
            reg.select("random/seed0")
        assert reg.select("validation:random")[0]["stage"] == "validation"
        # a bare name means the phase2 run when the run_id also exists in other stages
        assert [r["stage"] for r in reg.select("Q1_demo/seed0")] == ["phase2"]
        assert reg.select("validation:Q1_demo/seed0")[0]["stage"] == "validation"
        assert [r["seed"] for r in reg.select("Q1_demo")] == [0, 1, 2]
        assert len(reg.select("Q1_demo/seed2")) == 1


# -- CLI ----------------------------------------------------------------------------------
def test_cli_index_list_show(results, capsys):
    r = str(results)
    rep = cli_json(capsys, "runs", "index", "--results", r)
    assert rep["runs"] == 17
    rows = cli_json(capsys, "runs", "list", "--results", r, "--status", "done", "--metric", "task_success")
    assert {x["run"] for x in rows} >= {"Q1_hint/seed0", "BASE/seed2"}
    assert all(x["status"] == "done" for x in rows)
    rc, out, _ = run_cli(capsys, "runs", "list", "--results", r)
    assert rc == 0 and "Q2_demo/seed1" in out and "running" in out
    show = cli_json(capsys, "runs", "show", "phase2:Q1_hint/seed0", "--results", r)
    assert show["config"]["training"]["lr"] == 0.002 and show["metrics"]["task_success"] == 0.45
    assert len(cli_json(capsys, "runs", "show", "Q1_hint", "--results", r)) == 3
    rc, out, _ = run_cli(capsys, "runs", "show", "Q1_hint/seed0", "--results", r)
    assert "probe_success" in out and "training.lr" in out


def test_cli_unknown_runs_one_message(indexed, capsys):
    rc, out, err = run_cli(capsys, "runs", "compare", "Q1_demo", "X1", "X2/seed3",
                           "--results", str(indexed))
    assert rc == 2 and err.strip() == \
        "teachable: error: unknown run(s): X1, X2/seed3 (see `teachable runs list`)"
    rc, out, err = run_cli(capsys, "runs", "show", "nope", "Q1_hint", "Q1_x/seed9", "--results", str(indexed))
    assert rc == 2 and out == "" and "unknown run(s): nope, Q1_x/seed9" in err


def test_cli_missing_registry(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "runs", "list", "--results", str(tmp_path))
    assert rc == 2 and "registry not found" in err and "runs index" in err


def test_cli_leaderboard(indexed, capsys):
    lb = cli_json(capsys, "runs", "leaderboard", "--metric", "task_success", "--results", str(indexed),
                  "--n-resamples", "999")
    assert lb["rows"][0]["run_id"] == "Q1_demo" and lb["rows"][0]["stage"] == "validation"
    lb = cli_json(capsys, "runs", "leaderboard", "--metric", "task_success", "--results", str(indexed),
                  "--n-resamples", "999", "--stage", "phase2")
    rows = lb["rows"]
    assert [x["run_id"] for x in rows[:2]] == ["Q1_hint", "Q1_demo"]
    top = rows[0]
    vals = [0.45, 0.48, 0.49]
    assert top["n"] == 3 and top["mean"] == pytest.approx(np.mean(vals))
    assert top["std"] == pytest.approx(np.std(vals, ddof=1))
    assert top["ci_low"] <= top["mean"] <= top["ci_high"]
    assert {x["stage"] for x in rows} == {"phase2"} and len(rows) == 3
    lb = cli_json(capsys, "runs", "leaderboard", "--metric", "task_success", "--results", str(indexed),
                  "--n-resamples", "999", "--stage", "selection")
    single = lb["rows"][0]
    assert single["n"] == 1 and single["ci_low"] is None  # n=1: CI undefined, flagged
    lb = cli_json(capsys, "runs", "leaderboard", "--metric", "retention_drop", "--lower-is-better",
                  "--top", "2", "--results", str(indexed), "--n-resamples", "999")
    assert len(lb["rows"]) == 2 and lb["rows"][0]["mean"] <= lb["rows"][1]["mean"]


def test_cli_compare(indexed, capsys):
    d = cli_json(capsys, "runs", "compare", "Q1_demo/seed0", "Q1_hint/seed0", "--results", str(indexed))
    assert set(d["config_diff"]) == {"training.lr", "run.run_id", "run.format"}
    assert d["config_diff"]["training.lr"] == {"Q1_demo/seed0": 0.001, "Q1_hint/seed0": 0.002}
    assert d["metrics"]["task_success"]["Q1_hint/seed0"]["mean"] == 0.45
    d = cli_json(capsys, "runs", "compare", "phase2:Q1_demo", "Q1_hint", "--results", str(indexed))
    # run.seed varies within each group ("<varies>" on both sides), so it is no difference
    assert "run.seed" not in d["config_diff"] and "training.lr" in d["config_diff"]
    d = cli_json(capsys, "runs", "compare", "Q1_demo", "Q1_hint", "--all-params", "--results", str(indexed))
    assert d["config_diff"]["run.seed"] == {"Q1_demo": "<varies>", "Q1_hint": "<varies>"}
    assert d["config_diff"]["training.epochs"] == {"Q1_demo": 2, "Q1_hint": 2}
    assert d["metrics"]["task_success"]["Q1_hint"]["n"] == 3
    rc, out, _ = run_cli(capsys, "runs", "compare", "phase2:Q1_demo", "Q1_hint", "--results", str(indexed))
    assert "training.lr" in out and "±" in out


def test_cli_significance_paired_matches_scipy(indexed, capsys):
    from scipy import stats

    d = cli_json(capsys, "runs", "significance", "BASE", "Q1_hint", "--metric", "task_success",
                 "--paired", "--results", str(indexed), "--n-resamples", "999")
    base = [0.30, 0.33, 0.34]
    hint = [0.45, 0.48, 0.49]
    res = d["result"]
    assert res["n"] == 3 and res["mean_diff"] == pytest.approx(np.mean(np.subtract(hint, base)))
    # constant differences (0.15 each): t undefined, CI zero-width, reported not crashed
    assert res["t_pvalue"] is None and res["ci"]["degenerate"] is True
    d = cli_json(capsys, "runs", "significance", "Q1_demo", "Q1_hint", "--metric", "probe_success",
                 "--summary", "final", "--last-k", "2", "--paired", "--results", str(indexed),
                 "--n-resamples", "999")
    assert d["summary"] == "final" and d["window"] == [0.0, 100.0]
    d2 = cli_json(capsys, "runs", "significance", "Q1_demo", "Q1_hint", "--metric", "final_loss",
                  "--results", str(indexed), "--n-resamples", "999")
    with Registry(indexed / "registry.sqlite") as reg:
        a = [reg.metrics(r["pk"])["final_loss"] for r in reg.select("phase2:Q1_demo")]
        b = [reg.metrics(r["pk"])["final_loss"] for r in reg.select("Q1_hint")]
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert d2["result"]["welch_pvalue"] == pytest.approx(ref.pvalue)


def test_cli_export_stats(indexed, tmp_path, capsys):
    out = tmp_path / "exp.json"
    d = cli_json(capsys, "runs", "export", "Q1_hint", "BASE/seed0", "--output", str(out),
                 "--results", str(indexed))
    assert d["runs"] == ["Q1_hint/seed0", "Q1_hint/seed1", "Q1_hint/seed2", "BASE/seed0"]
    exp = json.loads(out.read_text())
    assert len(exp["runs"]) == 4 and exp["runs"][0]["step_metrics"][0]["step"] == 0
    st = cli_json(capsys, "runs", "stats", "--results", str(indexed))
    assert st["runs"] == 17 and st["by_status"] == {"done": 15, "failed": 1, "running": 1}
    assert st["metrics"]["task_success"] == 15 and st["checkpoints"]["missing"] == 0
    rc, out, _ = run_cli(capsys, "runs", "stats", "--results", str(indexed))
    assert rc == 0 and "by stage" in out


def test_cli_reproduce(indexed, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(indexed.parent)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({**BASE_CONFIG, "workers": 2}))
    d = cli_json(capsys, "runs", "reproduce", "Q1_hint/seed1", "--results", str(indexed),
                 "--configfile", str(cfg))
    target = "results/phase2/Q1_hint/seed1/run.json"
    assert d["target"] == target
    assert d["argv"][:6] == ["snakemake", "--cores", "2", target, "--forcerun", target]
    assert d["overrides"] == {"training.lr": 0.002}
    assert "run.run_id" in d["run_only_keys"] and "workers" in d["not_in_run_config"]
    written = yaml.safe_load(Path(d["overrides_file"]).read_text())
    assert written == {"training": {"lr": 0.002}}
    assert d["argv"][-3:] == ["--configfile", str(cfg), os.path.relpath(d["overrides_file"])]
    d = cli_json(capsys, "runs", "reproduce", "Q1_demo/seed0", "--results", str(indexed),
                 "--configfile", str(cfg))
    assert d["overrides"] == {} and d["overrides_file"] is None and "--config" not in d["argv"]
    rc, out, err = run_cli(capsys, "runs", "reproduce", "BASE/seed0", "--results", str(indexed),
                           "--configfile", str(cfg))
    assert rc == 0 and "results/phase3/runs/BASE/seed0.json" in out


def test_cli_analyze_compare_outputs(indexed, tmp_path, capsys):
    r = str(indexed)
    base = ["analyze", "compare", "--results", r, "--metric", "probe_success", "--summary", "auc",
            "--n-resamples", "999"]
    rc, out, err = run_cli(capsys, *base, "--control", "B1_uniform", "--candidate", "phase2:Q1_demo",
                           "Q1_hint", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert [(x["control"], x["candidate"]) for x in d["rows"]] == \
        [("B1_uniform", "phase2:Q1_demo"), ("B1_uniform", "Q1_hint")]
    assert d["window"] == [0.0, 100.0] and d["correction"]["method"] == "holm"
    p1, p2 = (x["p"] for x in d["rows"])
    lo, hi = sorted([p1, p2])  # Holm, m=2: smallest x2, then max(previous, larger x1)
    expected = {lo: min(1, 2 * lo), hi: min(1, max(2 * lo, hi))}
    assert [x["p_holm"] for x in d["rows"]] == pytest.approx([expected[p1], expected[p2]])
    assert d["rows"][1]["diff"] > d["rows"][0]["diff"] > 0
    csv_path, md_path = tmp_path / "c.csv", tmp_path / "c.md"
    rc, _, _ = run_cli(capsys, *base, "--pairs", "B1_uniform:Q1_hint", "--csv", str(csv_path),
                       "--md", str(md_path), "--window", "25", "75")
    assert rc == 0
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("control,candidate,n,") and len(lines) == 2
    assert "steps 25-75" in md_path.read_text() and "| control" in md_path.read_text()
    rc, _, err = run_cli(capsys, *base, "--pairs", "B1_uniform:Q1_hint", "--window", "0", "500")
    assert rc == 2 and "window [0, 500] is outside it" in err
    rc, _, err = run_cli(capsys, *base, "--pairs", "Q2_demo:Q1_hint")
    assert rc == 2 and "no finished (status done) runs for: Q2_demo" in err


def test_analyze_rejects_nan_naming_run(results, capsys):
    p = results / "phase2" / "Q1_hint" / "seed2" / "metrics.jsonl"
    rows = [json.loads(x) for x in p.read_text().splitlines()]
    rows[-1]["probe_success"] = float("nan")
    write_jsonl(p, rows)
    build_registry(results)
    rc, _, err = run_cli(capsys, "analyze", "compare", "--results", str(results), "--metric",
                         "probe_success", "--pairs", "B1_uniform:Q1_hint", "--n-resamples", "99")
    assert rc == 2 and "Q1_hint/seed2: probe_success is None at step 100" in err


def test_cli_analyze_seeds_and_power(indexed, tmp_path, capsys):
    plot = tmp_path / "seeds.png"
    d = cli_json(capsys, "analyze", "seeds", "--results", str(indexed), "--runs", "Q1_hint",
                 "B1_uniform", "--metric", "task_success", "--diff", "0.05", "--plot", str(plot),
                 "--n-resamples", "500", "--target-half-width", "0.02")
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"
    # Q1_hint 0.45/0.48/0.49 and B1_uniform 0.31/0.34/0.35 deviate alike from their means
    assert d["pilot_sd"] == pytest.approx(np.std([0.45, 0.48, 0.49], ddof=1))
    assert d["power"]["n"] >= 2 and d["curve"]["ns"][0] == 2
    d = cli_json(capsys, "analyze", "seeds", "--results", str(indexed), "--pairs", "B1_uniform:Q1_hint",
                 "--metric", "probe_success", "--plot", str(plot), "--n-resamples", "500")
    assert d["paired"] and d["observed_diff"] > 0 and d["power"]["paired"]
    d = cli_json(capsys, "analyze", "power", "--effect", "0.5")
    assert d["n"] == 64
    d = cli_json(capsys, "analyze", "power", "--sd", "0.1", "--diff", "0.05", "--paired")
    assert d["n"] == 34 and d["per"] == "pair"
    rc, out, _ = run_cli(capsys, "analyze", "power", "--effect", "0.5", "--paired")
    assert out.startswith("34 paired seeds")


def test_cli_subprocess(indexed):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    for argv in (["runs", "list"], ["runs", "leaderboard", "--metric", "task_success",
                                    "--n-resamples", "199"], ["runs", "stats"]):
        p = subprocess.run([sys.executable, "-m", "teachable.cli", *argv, "--results", str(indexed),
                            "--json"], capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        json.loads(p.stdout)
    p = subprocess.run([sys.executable, "-m", "teachable.cli", "runs", "show", "nope",
                        "--results", str(indexed)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and "unknown run(s): nope" in p.stderr


def test_tables_fall_back_to_pandas_without_tabulate(monkeypatch):
    from teachable.commands._common import table

    with_tab = table([{"run": "a/seed0", "value": 0.5}])
    monkeypatch.setitem(sys.modules, "tabulate", None)  # import now raises ImportError
    without = table([{"run": "a/seed0", "value": 0.5}])
    assert without != with_tab and "a/seed0" in without and "0.5" in without


# -- W&B mirror (optional) ----------------------------------------------------------------
def test_wandb_mirror_without_the_package_says_how_to_install(indexed, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    rc, out, err = run_cli(capsys, "runs", "wandb", "--results", str(indexed))
    assert rc == 2 and "wandb package is not installed" in err and "pip install" in err
    assert not (indexed / "wandb").exists()


def test_wandb_mirror_offline_writes_one_run_per_registry_run(indexed, monkeypatch, capsys):
    pytest.importorskip("wandb", reason="optional: pip install wandb (the dev extra installs it)")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-in-wandb-files")
    out = cli_json(capsys, "runs", "wandb", "--results", str(indexed), "--project", "t")
    with sqlite3.connect(indexed / "registry.sqlite") as db:
        n_runs = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert out["runs"] == n_runs > 0
    offline = sorted((indexed / "wandb" / "wandb").glob("offline-run-*"))
    assert len(offline) == n_runs
    # each run's W&B record (protobuf, what `wandb sync` uploads) names the run and carries
    # its config, curve and summary; strings are stored as plain bytes
    records = {}
    for d in offline:
        (rec,) = d.glob("*.wandb")
        data = rec.read_bytes()
        (name,) = set(re.findall(rb"[A-Za-z0-9_]+/seed[0-9]+", data))
        records[name.decode()] = data
    assert len(records) == n_runs - 2  # random/seed0 and Q1_demo/seed0 exist in two stages
    hint = records["Q1_hint/seed2"]
    for key in (b"probe_success", b"final_loss", b"task_success", b"lr", b"phase2"):
        assert key in hint, key
    names = {(k.split("/")[0], int(k.split("seed")[1])) for k in records}
    assert ("Q1_hint", 2) in names and ("random", 0) in names and ("BASE", 0) in names
    leaked = [p for p in (indexed / "wandb").rglob("*") if p.is_file() and b"sk-test-never" in p.read_bytes()]
    assert not leaked, leaked
