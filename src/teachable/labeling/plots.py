"""Threshold plots: histograms of U and L_local (in its label outcome) and the U x L scatter
with the cuts."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import atomic_path  # noqa: E402


def _save(fig, path: Path):
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)


def threshold_plots(snaps: list[dict], th: dict, out_dir: str) -> None:
    out = Path(out_dir)
    U = [s["U"] for s in snaps]
    lev = f"L_local ({th.get('leverage_outcome', 'success')})"
    L = [s["L_local"] for s in snaps]
    for vals, cut, name, label in ((U, th["U_threshold"], "hist_U", "U (entropy, nats)"),
                                   (L, th["L_threshold"], "hist_L", f"{lev} (force - policy)")):
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.hist(vals, bins=20, color="#4C72B0")
        ax.axvline(cut, color="k", ls="--", label=f"cut {cut:.3f} ({th['method']})")
        ax.set_xlabel(label)
        ax.set_ylabel("snapshots")
        ax.legend()
        _save(fig, out / f"{name}.png")
    fig, ax = plt.subplots(figsize=(5, 4))
    sc = ax.scatter(U, L, c=[s.get("ELP_net", 0.0) for s in snaps], cmap="viridis", s=14)
    fig.colorbar(sc, ax=ax, label="ELP_net")
    ax.axvline(th["U_threshold"], color="k", ls="--")
    ax.axhline(th["L_threshold"], color="k", ls="--")
    ax.set_xlabel("U (entropy, nats)")
    ax.set_ylabel(lev)
    ax.set_title(f"U x {lev} with quadrant cuts")
    _save(fig, out / "scatter_U_L.png")
