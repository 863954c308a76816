"""Figures read at a glance (issue 32, part 4): no two text labels overlap, coinciding
points included, and a title names CIs only when CIs are drawn. TEST-ONLY synthetic
tables in the formats of docs/artifacts.md, shaped like the pilot's (several runs at
one point, as B1_uniform and Q3 demo were)."""

import itertools
import re

import pandas as pd
import pytest
from matplotlib.text import Text

from teachable.figures import FIGURES, draw_figure
from teachable.vocab import FORMATS, QUADRANTS

from test_figures import artifacts, inputs  # noqa: F401 (module fixture reused)


def text_overlaps(fig) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty text artists (axes texts and annotations, titles,
    legend entries, figure titles) whose rendered bounding boxes overlap; an annotation's
    box is its text's alone (Text.get_window_extent), not its leader line's."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = list(fig.texts)
    if fig._suptitle is not None:
        texts.append(fig._suptitle)
    for ax in fig.axes:
        texts += list(ax.texts) + [ax.title]
        if ax.get_legend() is not None:
            texts += list(ax.get_legend().get_texts())
    texts = list({id(t): t for t in texts}.values())  # the suptitle is also in fig.texts
    boxes = [(t.get_text(), Text.get_window_extent(t, renderer)) for t in texts
             if t.get_visible() and t.get_text().strip()]
    return [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]


def phase3_tables(d, n_seeds: int):
    """overall + retention with coinciding runs; CI columns blank below 3 seeds, as the
    pipeline writes them ('too few seeds')."""
    runs = ["BASE", "B1_uniform", "B2_all"] + [f"{q}_{f}" for q in QUADRANTS for f in FORMATS]
    rows, ret = [], []
    for i, r in enumerate(runs):
        q, f = r.rsplit("_", 1) if r.startswith("Q") else ("", "demo" if r.startswith("B") else "")
        # five runs on one spot, three on another, the rest spread out
        m, dr = (0.375, 0.0) if i in (1, 9, 10, 12, 13) else (0.36, 0.04) if i in (5, 6, 7) else (0.3 + 0.02 * i, 0.01 * i)
        ci = n_seeds >= 3
        rows.append({"run_id": r, "quadrant": q, "format": f, "n_seeds": n_seeds, "mean": m,
                     "ci_low": m - 0.1 if ci else None, "ci_high": m + 0.1 if ci else None,
                     "delta_base": m - 0.36, "delta_base_ci_low": m - 0.4 if ci else None,
                     "delta_base_ci_high": m - 0.3 if ci else None,
                     "ci_note": "" if ci else f"too few seeds ({n_seeds} < 3): no CI"})
        if r != "BASE":
            ret.append({"run_id": r, "n_seeds": n_seeds, "retention_drop": dr,
                        "drop_ci_low": max(0.0, dr - 0.05) if ci else None, "drop_ci_high": dr + 0.05 if ci else None,
                        "ci_note": "" if ci else f"too few seeds ({n_seeds} < 3): no CI"})
    pd.DataFrame(rows).to_csv(d / "overall_task_results.csv", index=False)
    pd.DataFrame(ret).to_csv(d / "retention_results.csv", index=False)
    return {"overall": d / "overall_task_results.csv", "retention": d / "retention_results.csv"}


@pytest.mark.parametrize("n_seeds", [2, 3])
def test_frontier_labels_never_overlap(tmp_path, n_seeds):
    fig = draw_figure("frontier", phase3_tables(tmp_path, n_seeds))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert sorted(labels) == sorted(["B1_uniform", "B2_all"] + [f"{q.split('_')[0]} {f}" for q in QUADRANTS
                                                               for f in FORMATS])
    assert text_overlaps(fig) == []


def test_frontier_title_names_cis_only_when_drawn(tmp_path):
    few = draw_figure("frontier", phase3_tables(tmp_path, 2)).axes[0].get_title()
    assert not re.search(r"\d+% CI", few) and "too few seeds for CIs" in few
    enough = draw_figure("frontier", phase3_tables(tmp_path, 3), confidence=0.9).axes[0].get_title()
    assert "90% CIs" in enough


def test_heatmap_title_names_cis_only_when_drawn(tmp_path):
    few = draw_figure("supervision_heatmap", phase3_tables(tmp_path, 2)).axes[0].get_title()
    assert not re.search(r"\d+% CI", few) and "too few seeds" in few
    enough = draw_figure("supervision_heatmap", phase3_tables(tmp_path, 3)).axes[0].get_title()
    assert "95% CIs" in enough


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_no_figure_has_overlapping_text(artifacts, name):  # noqa: F811
    assert text_overlaps(draw_figure(name, inputs(artifacts))) == []
