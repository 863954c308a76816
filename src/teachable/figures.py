"""Paper figures from the pipeline's artifacts (docs/figures.md).

One function per figure; each reads real artifact files only (formats in
docs/artifacts.md) and returns its Figure; `make_figure` writes `<out>.png` and `<out>.pdf`
atomically. A missing input or column stops with an InputError naming the file. What a
reader sees must read at a glance: text labels never overlap (`callout_labels` stacks
them beside the axes) and a title names only what is drawn (`ci_phrase`: "95% CIs" only
when the table has intervals, else "means; too few seeds for CIs")."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .io import InputError, atomic_path, read_json, read_records
from .vocab import FORMATS, QUADRANTS, ROUTES_OR_NONE

Q_SHORT = {q: q.split("_", 1)[0] + "\n" + q.split("_", 1)[1] for q in QUADRANTS}
Q_COLORS = dict(zip(QUADRANTS, ("#C44E52", "#DD8452", "#8C8C8C", "#4C72B0")))
ROUTE_COLORS = dict(zip(ROUTES_OR_NONE, ("#4C72B0", "#55A868", "#C44E52", "#BBBBBB")))


# ---------------------------------------------------------------- inputs and output


def _exists(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    return path


def read_csv(path, columns) -> pd.DataFrame:
    """A CSV with the named columns (error names the file and the missing columns)."""
    path = _exists(path)
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise InputError(f"{path}: unreadable CSV ({e})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    if df.empty:
        raise InputError(f"{path}: no rows")
    return df


def read_snapshots(path) -> list[dict]:
    rows = read_records(_exists(path), required=("quadrant", "U", "L_local", "ELP_net"))
    if not rows:
        raise InputError(f"{path}: no labeled snapshots")
    return rows


def save_figure(fig, out) -> list[Path]:
    """Write `out` as .png and .pdf (any suffix on `out` is replaced), atomically."""
    out = Path(out)
    paths = []
    for ext in (".png", ".pdf"):
        p = out.with_suffix(ext)
        with atomic_path(p, suffix=ext) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight")
        paths.append(p)
    plt.close(fig)
    return paths


def _err(mean, low, high):
    """Asymmetric error bars from CI bounds (missing bounds -> zero length)."""
    mean, low, high = (np.asarray(v, dtype=float) for v in (mean, low, high))
    lo = np.where(np.isfinite(low), mean - low, 0.0)
    hi = np.where(np.isfinite(high), high - mean, 0.0)
    return np.vstack([np.clip(lo, 0, None), np.clip(hi, 0, None)])


def ci_phrase(lows, highs, confidence: float = 0.95, notes=()) -> str:
    """What a title may say about the intervals it draws: "95% CIs" when every row has
    one, "95% CIs where available" when some do, else "means; too few seeds for CIs"
    (or "means; no CIs" when no ci_note says the seeds were too few)."""
    lo, hi = (np.asarray(v, dtype=float).ravel() for v in (lows, highs))
    has = np.isfinite(lo) & np.isfinite(hi)
    level = f"{100 * confidence:g}% CIs"
    if has.all() and has.size:
        return level
    if has.any():
        return f"{level} where available"
    return "means; too few seeds for CIs" if any("too few" in str(n) for n in notes) else "means; no CIs"


def _notes(df: pd.DataFrame) -> list:
    return list(df["ci_note"]) if "ci_note" in df.columns else []


def callout_labels(ax, xs, ys, labels, colors=None, fontsize: float = 7) -> list:
    """Name points in a column right of the axes, stacked in the points' vertical order so
    that no two labels overlap (coinciding points included), each joined to its point by a
    thin leader line in the point's colour (`colors`, default grey). Call after everything
    else is drawn: it fixes the axis limits."""
    colors = list(colors) if colors is not None else ["0.35"] * len(labels)
    fig = ax.figure
    ax.set_xlim(ax.get_xlim())
    ax.set_ylim(ax.get_ylim())
    renderer = fig.canvas.get_renderer()
    probe = ax.text(0, 0, "Ag|", fontsize=fontsize)
    height = probe.get_window_extent(renderer).height * 1.15
    probe.remove()
    box = ax.get_window_extent(renderer)
    pts = ax.transData.transform(np.column_stack([np.asarray(xs, float), np.asarray(ys, float)]))
    order = sorted(range(len(labels)), key=lambda i: (pts[i, 1], pts[i, 0], str(labels[i])))
    pos = np.empty(len(order))
    for k, i in enumerate(order):  # bottom up: no closer than one label height
        pos[k] = pts[i, 1] if k == 0 else max(pts[i, 1], pos[k - 1] + height)
    top = box.y1 - height / 2
    for k in range(len(order) - 1, -1, -1):  # top down: stay inside the axes' height where possible
        pos[k] = min(pos[k], top if k == len(order) - 1 else pos[k + 1] - height)
    texts = []
    for k, i in enumerate(order):
        texts.append(ax.annotate(
            str(labels[i]), (xs[i], ys[i]), xytext=(1.02, (pos[k] - box.y0) / box.height),
            textcoords="axes fraction", ha="left", va="center", fontsize=fontsize, annotation_clip=False,
            color=colors[i], arrowprops={"arrowstyle": "-", "color": colors[i], "lw": 0.4, "alpha": 0.7,
                                         "shrinkA": 0, "shrinkB": 3}))
    return texts


def _fmt(v) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:+.2f}"


def _heatmap(ax, mat: np.ndarray, rows, cols, notes=None, label="delta vs BASE"):
    lim = np.nanmax(np.abs(mat)) if np.isfinite(mat).any() else 1.0
    lim = lim or 1.0
    cmap = plt.get_cmap("RdBu").with_extremes(bad="#EEEEEE")
    im = ax.imshow(np.ma.masked_invalid(mat), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            txt = _fmt(mat[i, j]) + (("\n" + notes[i][j]) if notes and notes[i][j] else "")
            dark = np.isfinite(mat[i, j]) and abs(mat[i, j]) > 0.6 * lim
            ax.text(j, i, txt, ha="center", va="center", fontsize=8, color="w" if dark else "k")
    plt.colorbar(im, ax=ax, label=label)


# ---------------------------------------------------------------- phase 1


def landscape(snapshots, thresholds) -> Figure:
    """(a) U x L_local, coloured by ELP_net, with the quadrant cuts."""
    snaps = read_snapshots(snapshots)
    th = read_json(_exists(thresholds))
    for k in ("U_threshold", "L_threshold"):
        if k not in th:
            raise InputError(f"{thresholds}: missing key '{k}'")
    U = np.array([s["U"] for s in snaps], dtype=float)
    L = np.array([s["L_local"] for s in snaps], dtype=float)
    E = np.array([s["ELP_net"] for s in snaps], dtype=float)
    rng = np.random.default_rng(0)  # jitter only: leverage is coarse (multiples of 1/n)
    jit = rng.uniform(-0.01, 0.01, size=L.size)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    sc = ax.scatter(U, L + jit, c=E, cmap="viridis", s=16, edgecolors="none")
    fig.colorbar(sc, ax=ax, label="ELP_net")
    ax.axvline(th["U_threshold"], color="k", ls="--", lw=1)
    ax.axhline(th["L_threshold"], color="k", ls="--", lw=1)
    counts = {q: sum(s["quadrant"] == q for s in snaps) for q in QUADRANTS}
    for q, (x, y, ha, va) in zip(QUADRANTS, ((0.98, 0.98, "right", "top"), (0.98, 0.02, "right", "bottom"),
                                              (0.02, 0.02, "left", "bottom"), (0.02, 0.98, "left", "top"))):
        ax.text(x, y, f"{q.split('_')[0]} (n={counts[q]})", transform=ax.transAxes, ha=ha, va=va, fontsize=8)
    ax.set_xlabel("U (entropy of pi, nats)")
    ax.set_ylabel("L_local = p_force - p_policy (jittered ±0.01)")
    ax.set_title(f"Failure-state landscape ({len(snaps)} snapshots; cuts: {th.get('method', '?')})")
    return fig


def elp_by_quadrant(snapshots) -> Figure:
    """(b) ELP_net per quadrant: box plot with the points."""
    snaps = read_snapshots(snapshots)
    data = [[float(s["ELP_net"]) for s in snaps if s["quadrant"] == q] for q in QUADRANTS]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.boxplot([d if d else [np.nan] for d in data], showfliers=False)
    ax.set_xticks(range(1, 5), [f"{Q_SHORT[q]}\nn={len(d)}" for q, d in zip(QUADRANTS, data)])
    rng = np.random.default_rng(0)
    for i, (q, d) in enumerate(zip(QUADRANTS, data), 1):
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(d)), d, s=8, alpha=0.6, color=Q_COLORS[q])
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("ELP_net = max_m p_m - p_placebo")
    ax.set_title("Teachability (ELP_net) by quadrant")
    return fig


def route_mix(snapshots) -> Figure:
    """(c) share of route_net per quadrant (stacked bars; 'none' = no route / ELP_net <= 0)."""
    snaps = read_snapshots(snapshots)
    fig, ax = plt.subplots(figsize=(6, 4))
    bottom = np.zeros(len(QUADRANTS))
    n = np.array([sum(s["quadrant"] == q for s in snaps) for q in QUADRANTS], dtype=float)
    for r in ROUTES_OR_NONE:
        cnt = np.array([sum(s["quadrant"] == q and (s.get("route_net") or "none") == r for s in snaps)
                        for q in QUADRANTS], dtype=float)
        share = np.divide(cnt, n, out=np.zeros_like(cnt), where=n > 0)
        ax.bar(range(4), share, bottom=bottom, color=ROUTE_COLORS[r], label=r)
        bottom += share
    other = [s.get("route_net") for s in snaps if (s.get("route_net") or "none") not in ROUTES_OR_NONE]
    if other:
        raise InputError(f"{snapshots}: unknown route_net value(s) {sorted(set(map(str, other)))}")
    ax.set_xticks(range(4), [f"{Q_SHORT[q]}\nn={int(k)}" for q, k in zip(QUADRANTS, n)])
    ax.set_ylabel("share of snapshots")
    ax.set_ylim(0, 1)
    ax.legend(title="route_net", bbox_to_anchor=(1.02, 1), loc="upper left")
    ax.set_title("Best supervision route per quadrant")
    return fig


def cpt_validation(micro_results, cpt_correlation) -> Figure:
    """(d) ELP_net vs micro-training utility, Spearman rho (CI) in the title."""
    res = read_json(_exists(micro_results))
    recs = res.get("records", res.get("results")) if isinstance(res, dict) else None
    if not isinstance(recs, list) or not recs:
        raise InputError(f"{micro_results}: no 'records' (or 'results') list of micro-training results")
    for i, r in enumerate(recs):
        for k in ("ELP_net", "utility", "quadrant"):
            if k not in r:
                raise InputError(f"{micro_results}: record {i} has no '{k}'")
    corr = read_json(_exists(cpt_correlation))
    try:
        sp = corr["overall"]["spearman"]
    except (KeyError, TypeError):
        raise InputError(f"{cpt_correlation}: missing overall.spearman") from None
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for q in QUADRANTS:
        rs = [r for r in recs if r["quadrant"] == q]
        if rs:
            ax.scatter([r["ELP_net"] for r in rs], np.array([r["utility"] for r in rs]) + rng.uniform(-0.01, 0.01, len(rs)),
                       s=18, alpha=0.75, color=Q_COLORS[q], label=f"{q.split('_')[0]} (n={len(rs)})")
    ci = sp.get("ci") or {}
    rho = sp.get("r")
    ci_txt = f" [{ci['low']:.2f}, {ci['high']:.2f}]" if ci.get("low") is not None and ci.get("high") is not None else ""
    ax.set_title(f"CPT validation: Spearman rho = {rho:.2f}{ci_txt} (n={len(recs)})" if rho is not None
                 else f"CPT validation: Spearman rho undefined (n={len(recs)})", fontsize=10)
    ax.axhline(0, color="k", lw=0.6)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel("ELP_net (contextual patch test)")
    outcome = ",".join(sorted({r.get("utility_outcome", "success") for r in recs}))
    ax.set_ylabel(f"utility = {outcome} after - before micro-training")
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------- phase 3

OVERALL_COLS = ("run_id", "quadrant", "format", "n_seeds", "mean", "ci_low", "ci_high",
                "delta_base", "delta_base_ci_low", "delta_base_ci_high")


def supervision_heatmap(overall, confidence: float = 0.95) -> Figure:
    """(e) delta vs BASE of the 12 runs {quadrant}_{format}: rows quadrant, cols format."""
    df = read_csv(overall, OVERALL_COLS).set_index("run_id")
    mat = np.full((4, 3), np.nan)
    notes = [["" for _ in FORMATS] for _ in QUADRANTS]
    for i, q in enumerate(QUADRANTS):
        for j, f in enumerate(FORMATS):
            rid = f"{q}_{f}"
            if rid in df.index:
                r = df.loc[rid]
                mat[i, j] = float(r["delta_base"])
                if np.isfinite(float(r["delta_base_ci_low"])):
                    notes[i][j] = f"[{float(r['delta_base_ci_low']):+.2f}, {float(r['delta_base_ci_high']):+.2f}]"
    if not np.isfinite(mat).any():
        raise InputError(f"{overall}: none of the 12 runs {{quadrant}}_{{demo|hint|contrast}} has a delta_base")
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    _heatmap(ax, mat, [Q_SHORT[q].replace("\n", " ") for q in QUADRANTS], list(FORMATS), notes,
             label="task success - BASE")
    ax.set_xlabel("supervision format")
    sub = df.loc[[f"{q}_{f}" for q in QUADRANTS for f in FORMATS if f"{q}_{f}" in df.index]]
    ci = ci_phrase(sub["delta_base_ci_low"], sub["delta_base_ci_high"], confidence, _notes(sub))
    ax.set_title(f"End-to-end task success vs BASE (mean over seeds; {ci} in brackets)"
                 if not ci.startswith("means") else f"End-to-end task success vs BASE ({ci})")
    return fig


def transfer_heatmap(transfer, confidence: float = 0.95) -> Figure:
    """(f) 4x4 transfer: train quadrant x panel quadrant, delta vs BASE on the panel."""
    df = read_csv(transfer, ("train_quadrant", "panel_quadrant", "n", "delta_mean", "ci_low", "ci_high"))
    mat = np.full((4, 4), np.nan)
    notes = [["" for _ in QUADRANTS] for _ in QUADRANTS]
    for _, r in df.iterrows():
        if r["train_quadrant"] in QUADRANTS and r["panel_quadrant"] in QUADRANTS:
            i, j = QUADRANTS.index(r["train_quadrant"]), QUADRANTS.index(r["panel_quadrant"])
            mat[i, j] = float(r["delta_mean"])
            if np.isfinite(float(r["ci_low"])):
                notes[i][j] = f"[{float(r['ci_low']):+.2f}, {float(r['ci_high']):+.2f}]"
    if not np.isfinite(mat).any():
        raise InputError(f"{transfer}: no row with known train_quadrant and panel_quadrant")
    fig, ax = plt.subplots(figsize=(7, 5.5))
    labels = [q.split("_")[0] for q in QUADRANTS]
    _heatmap(ax, mat, labels, labels, notes, label="panel success - BASE")
    ax.set_xlabel("panel quadrant (held-out snapshots)")
    ax.set_ylabel("training quadrant")
    ci = ci_phrase(df["ci_low"], df["ci_high"], confidence, _notes(df))
    ax.set_title(f"Transfer matrix (mean over formats x seeds; {ci}"
                 + (" in brackets)" if not ci.startswith("means") else ")"))
    return fig


def run_label(run_id: str, quadrant, fmt) -> str:
    """Short name of a run for a label: 'Q1 demo' for {quadrant}_{format}, else the run id."""
    if isinstance(quadrant, str) and quadrant and isinstance(fmt, str) and run_id == f"{quadrant}_{fmt}":
        return f"{quadrant.split('_', 1)[0]} {fmt}"
    return str(run_id)


def frontier(overall, retention, confidence: float = 0.95) -> Figure:
    """(g) reliability (task success) vs retention drop per run, CI error bars both ways.
    Runs are named beside the axes (callout_labels), so coinciding runs stay legible."""
    o = read_csv(overall, OVERALL_COLS)
    r = read_csv(retention, ("run_id", "retention_drop", "drop_ci_low", "drop_ci_high"))
    df = o.merge(r, on="run_id", how="inner")
    if df.empty:
        raise InputError(f"{overall} and {retention}: no run_id in common")
    fig, ax = plt.subplots(figsize=(7, 5))
    other_markers = iter("DPX*hv<>p")
    for _, row in df.iterrows():
        q = row["quadrant"] if isinstance(row["quadrant"], str) else ""
        color = Q_COLORS.get(q, "k")
        marker = {"demo": "o", "hint": "s", "contrast": "^"}.get(row["format"]) if q else None
        ax.errorbar(row["retention_drop"], row["mean"],
                    xerr=_err([row["retention_drop"]], [row["drop_ci_low"]], [row["drop_ci_high"]]),
                    yerr=_err([row["mean"]], [row["ci_low"]], [row["ci_high"]]),
                    fmt=marker or next(other_markers, "D"), color=color, ms=6, capsize=2, lw=0.8,
                    alpha=0.85, mfc="none" if not q else color)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel("retention drop on tasks BASE solves (> 0 = forgetting)")
    ax.set_ylabel("task success (mean over seeds)")
    notes = _notes(o.set_index("run_id").loc[df["run_id"]]) + _notes(r.set_index("run_id").loc[df["run_id"]])
    ci = ci_phrase(df[["ci_low", "drop_ci_low"]], df[["ci_high", "drop_ci_high"]], confidence, notes)
    ax.set_title(f"Reliability vs retention ({ci}; colour = quadrant, marker = format)", fontsize=10)
    callout_labels(ax, df["retention_drop"].to_numpy(float), df["mean"].to_numpy(float),
                   [run_label(rid, q, f) for rid, q, f in zip(df["run_id"], df["quadrant"], df["format"])],
                   [Q_COLORS.get(q, "k") if isinstance(q, str) else "k" for q in df["quadrant"]])
    return fig


def stuckness(stuck, confidence: float = 0.95) -> Figure:
    """(h) repeat rate and loop rate: BASE first, then every run, with CIs."""
    cols = ("run_id", "repeat_rate", "repeat_rate_ci_low", "repeat_rate_ci_high",
            "loop_rate", "loop_rate_ci_low", "loop_rate_ci_high")
    df = read_csv(stuck, cols)
    if "BASE" not in set(df["run_id"]):
        raise InputError(f"{stuck}: no BASE row to compare against")
    df = pd.concat([df[df["run_id"] == "BASE"], df[df["run_id"] != "BASE"]])
    x = np.arange(len(df))
    fig, axes = plt.subplots(2, 1, figsize=(max(6, 0.45 * len(df) + 2), 6), sharex=True)
    for ax, m in zip(axes, ("repeat_rate", "loop_rate")):
        colors = ["k" if rid == "BASE" else "#4C72B0" for rid in df["run_id"]]
        ax.bar(x, df[m], color=colors,
               yerr=_err(df[m], df[f"{m}_ci_low"], df[f"{m}_ci_high"]), capsize=2)
        ax.axhline(float(df[m].iloc[0]), color="k", ls="--", lw=0.8, label="BASE")
        ax.set_ylabel(m)
        ax.legend(fontsize=8)
    axes[-1].set_xticks(x, df["run_id"], rotation=60, ha="right", fontsize=7)
    ci = ci_phrase(df[[f"{m}_ci_low" for m in ("repeat_rate", "loop_rate")]],
                   df[[f"{m}_ci_high" for m in ("repeat_rate", "loop_rate")]], confidence, _notes(df))
    axes[0].set_title(f"Stuckness before (BASE) and after training ({ci})")
    return fig


# ---------------------------------------------------------------- phases 4 and 5


def predictor(training_result) -> Figure:
    """(i) P@K and NDCG@K of the predictor against entropy and random (held-out snapshots)."""
    res = read_json(_exists(training_result))
    metrics = res.get("metrics") if isinstance(res, dict) else None
    if not isinstance(metrics, dict) or any(m not in metrics for m in ("model", "entropy", "random")):
        raise InputError(f"{training_result}: 'metrics' needs model, entropy and random")
    ks = res.get("k_values") or sorted({int(k.split("@")[1]) for k in metrics["model"] if k.startswith("P@")})
    if not ks:
        raise InputError(f"{training_result}: no P@K metrics")
    methods = ("model", "entropy", "random")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")  # suptitle clear of titles
    w = 0.8 / len(methods)
    for ax, name in zip(axes, ("P", "NDCG")):
        for i, m in enumerate(methods):
            vals = [metrics[m].get(f"{name}@{k}") for k in ks]
            vals = [np.nan if v is None else float(v) for v in vals]
            ax.bar(np.arange(len(ks)) + (i - 1) * w, vals, w, label=m)
        ax.set_xticks(range(len(ks)), [f"K={k}" for k in ks])
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{name}@K")
    axes[0].legend()
    fig.suptitle(f"Ranking held-out snapshots by ELP_net (n={res.get('n_heldout', '?')})")
    return fig


def selection(comparison, confidence: float = 0.95) -> Figure:
    """(j) selection methods per metric: mean over seeds with 95% CIs."""
    df = read_csv(comparison, ("method", "metric", "n_seeds", "mean", "ci_low", "ci_high"))
    metrics = list(dict.fromkeys(df["metric"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.8), squeeze=False,
                             layout="constrained")  # the suptitle clear of the titles
    for ax, k in zip(axes[0], metrics):
        d = df[df["metric"] == k]
        x = np.arange(len(d))
        ax.bar(x, d["mean"], yerr=_err(d["mean"], d["ci_low"], d["ci_high"]), capsize=3,
               color=["#8C8C8C" if m == "random" else "#4C72B0" for m in d["method"]])
        ax.set_xticks(x, d["method"], rotation=20)
        ax.set_title(f"{k} (n_seeds={int(d['n_seeds'].iloc[0])})")
    fig.suptitle(f"Data selection: same budget, same SFT ({ci_phrase(df['ci_low'], df['ci_high'], confidence, _notes(df))})")
    return fig


# The name -> inputs table (FIGURE_INPUTS) and the report categories live in
# teachable.workflow.dag, which the Snakefile imports without matplotlib or pandas; adding a figure
# is a function here, a row in FIGURES, a row in workflow/dag.py's FIGURE_INPUTS / FIGURE_CATEGORIES
# and a caption block in report/figure.rst.

# name -> (function, input argument names in order)
FIGURES: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "landscape": (landscape, ("snapshots", "thresholds")),
    "elp_by_quadrant": (elp_by_quadrant, ("snapshots",)),
    "route_mix": (route_mix, ("snapshots",)),
    "cpt_validation": (cpt_validation, ("micro_results", "cpt_correlation")),
    "supervision_heatmap": (supervision_heatmap, ("overall",)),
    "transfer_heatmap": (transfer_heatmap, ("transfer",)),
    "frontier": (frontier, ("overall", "retention")),
    "stuckness": (stuckness, ("stuck",)),
    "predictor": (predictor, ("training_result",)),
    "selection": (selection, ("comparison",)),
}


def draw_figure(name: str, inputs: dict[str, str], confidence: float = 0.95) -> Figure:
    """The Figure `name` from its inputs (FIGURES: name -> function, input names)."""
    # Chosen here, not at import, so that importing this module leaves an interactive
    # session's backend alone; scripts and rules get a file-only backend.
    plt.switch_backend("Agg")
    if name not in FIGURES:
        raise InputError(f"unknown figure '{name}' (known: {', '.join(FIGURES)})")
    fn, args = FIGURES[name]
    missing = [a for a in args if a not in inputs]
    if missing:
        raise InputError(f"figure '{name}' needs input(s) {', '.join(missing)}")
    kw = {"confidence": confidence} if "confidence" in inspect.signature(fn).parameters else {}
    return fn(*(inputs[a] for a in args), **kw)


def make_figure(name: str, inputs: dict[str, str], out, confidence: float = 0.95) -> list[Path]:
    """Draw figure `name` and write it as `out`.png and .pdf; `confidence` is stats.confidence,
    the level of the tables' CIs, named in titles only where CIs are drawn."""
    return save_figure(draw_figure(name, inputs, confidence), out)


# ---------------------------------------------------------------- tables


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """Markdown (via tabulate); missing values are left blank, not 'nan'."""
    return df.astype(object).where(df.notna(), None).to_markdown(index=False, floatfmt=floatfmt, missingval="") + "\n"


def make_tables(csvs: list[str], out_dir) -> list[Path]:
    """Copy each CSV into out_dir and write a Markdown twin (same stem, .md)."""
    out_dir = Path(out_dir)
    written = []
    for src in csvs:
        src = _exists(src)
        try:
            df = pd.read_csv(src, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            raise InputError(f"{src}: unreadable CSV ({e})") from None
        for ext, text in ((".csv", src.read_text()), (".md", markdown_table(df))):
            p = out_dir / (src.stem + ext)
            with atomic_path(p, suffix=ext) as tmp:
                tmp.write_text(text)
            written.append(p)
    return written
