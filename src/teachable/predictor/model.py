"""The teachability predictor: an MLP with two regression heads (L_local, ELP_net) and a
4-way quadrant head, trained with Adam on CPU, deterministic for a given seed.

Regression targets are standardised with the training mean/std (so the two regression
losses and the cross-entropy are on comparable scales) and de-standardised on output.
With `val_frac > 0` a share of the training *trajectories* (hash of the trajectory id)
is set aside for early stopping; the weights of the best validation epoch are kept."""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..io import InputError, atomic_path, derive_seed, hash_fraction
from ..vocab import QUADRANTS
from ..labeling.decision import DECISION_ELP as ELP_TARGET  # the cross-fitted ELP (labeling.decision)
from .features import featurize, fit_feature_spec

FORMAT = "teachable-predictor-v1"

REG_TARGETS = ("L_local", ELP_TARGET)


class PredictorNet(nn.Module):
    def __init__(self, n_in: int, hidden: list[int], dropout: float, n_reg: int = len(REG_TARGETS),
                 n_cls: int = len(QUADRANTS)):
        super().__init__()
        layers: list[nn.Module] = []
        d = n_in
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU(), nn.Dropout(dropout)]
            d = h
        self.trunk = nn.Sequential(*layers)
        self.reg = nn.Linear(d, n_reg)
        self.cls = nn.Linear(d, n_cls)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.trunk(x)
        return self.reg(z), self.cls(z)


def targets_of(snaps: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(regression targets (n, 2), quadrant indices (n,)), with clear errors."""
    reg, cls = [], []
    for s in snaps:
        sid = s.get("snapshot_id", "?")
        for t in REG_TARGETS:
            if s.get(t) is None:
                raise InputError(f"snapshot {sid}: missing label {t} (needed to train the predictor)")
        if s.get("quadrant") not in QUADRANTS:
            raise InputError(f"snapshot {sid}: quadrant {s.get('quadrant')!r} not one of {', '.join(QUADRANTS)}")
        reg.append([float(s[t]) for t in REG_TARGETS])
        cls.append(QUADRANTS.index(s["quadrant"]))
    return np.asarray(reg, dtype=np.float32).reshape(-1, len(REG_TARGETS)), np.asarray(cls, dtype=np.int64)


@dataclass
class Predictor:
    """A trained predictor: feature schema + network + target scaling."""

    spec: dict
    net: PredictorNet
    arch: dict
    target_mean: list[float]
    target_std: list[float]
    meta: dict = field(default_factory=dict)

    @torch.no_grad()
    def predict(self, snaps: list[dict]) -> dict:
        """{"L_local": array, "ELP_net_xfit": array, "quadrant": [label], "quadrant_proba": (n, 4)}."""
        x = torch.from_numpy(featurize(snaps, self.spec))
        self.net.eval()
        reg, logits = self.net(x)
        reg = reg.numpy() * np.asarray(self.target_std) + np.asarray(self.target_mean)
        proba = torch.softmax(logits, dim=-1).numpy()
        out = {t: reg[:, i].astype(float) for i, t in enumerate(REG_TARGETS)}
        out["quadrant"] = [QUADRANTS[i] for i in proba.argmax(axis=1)] if len(snaps) else []
        out["quadrant_proba"] = proba
        return out

    def save(self, path: str | Path) -> None:
        blob = {"format": FORMAT, "state_dict": self.net.state_dict(), "arch": self.arch, "feature_spec": self.spec,
                "target_mean": list(map(float, self.target_mean)), "target_std": list(map(float, self.target_std)),
                "targets": list(REG_TARGETS), "quadrants": list(QUADRANTS), "meta": self.meta}
        # via a buffer: saved to a path, torch names the zip's root folder after the (random)
        # temp file, so equal models would differ in bytes
        buf = io.BytesIO()
        torch.save(blob, buf)
        with atomic_path(path, suffix=".pt") as tmp:
            tmp.write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "Predictor":
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: predictor model file not found (run the train_predictor rule first)")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is bad input
            raise InputError(f"{path}: unreadable predictor checkpoint ({type(e).__name__}: {e})") from None
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise InputError(f"{path}: not a {FORMAT} checkpoint")
        arch = blob["arch"]
        net = PredictorNet(arch["n_in"], arch["hidden"], arch["dropout"])
        net.load_state_dict(blob["state_dict"])
        net.eval()
        return cls(blob["feature_spec"], net, arch, blob["target_mean"], blob["target_std"], blob.get("meta", {}))


def _val_mask(snaps: list[dict], frac: float, seed: int) -> np.ndarray:
    key = [s.get("trajectory_id", s.get("snapshot_id", "")) for s in snaps]
    mask = np.array([hash_fraction(str(k), salt=f"predictor_val{seed}") < frac for k in key], dtype=bool)
    # early stopping needs both sides non-empty; otherwise train on everything for `epochs`
    if mask.all() or not mask.any():
        mask[:] = False
    return mask


def fit_predictor(train: list[dict], pcfg: dict, families: list[str], seed: int) -> tuple[Predictor, dict]:
    """Train on `train` (labeled, non-held-out snapshots). Returns the predictor and a log
    {"epochs_run", "best_epoch", "n_fit", "n_val", "history": [...]}."""
    if len(train) < 2:
        raise InputError(f"predictor: need at least 2 training snapshots, got {len(train)}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    val = _val_mask(train, float(pcfg["val_frac"]), seed)
    fit_snaps = [s for s, v in zip(train, val) if not v]
    val_snaps = [s for s, v in zip(train, val) if v]
    spec = fit_feature_spec(fit_snaps, families, pcfg["hash_dim"], pcfg["ngrams"], targets=list(REG_TARGETS))
    y_fit, c_fit = targets_of(fit_snaps)
    t_mean = y_fit.mean(axis=0)
    t_std = np.where(y_fit.std(axis=0) > 1e-8, y_fit.std(axis=0), 1.0)

    def tensors(snaps):
        y, c = targets_of(snaps)
        return (torch.from_numpy(featurize(snaps, spec)), torch.from_numpy((y - t_mean) / t_std).float(),
                torch.from_numpy(c))

    x, y, c = tensors(fit_snaps)
    xv, yv, cv = tensors(val_snaps) if val_snaps else (None, None, None)
    arch = {"n_in": spec["dim"], "hidden": [int(h) for h in pcfg["hidden"]], "dropout": float(pcfg["dropout"])}
    net = PredictorNet(**arch)
    opt = torch.optim.AdamW(net.parameters(), lr=float(pcfg["lr"]), weight_decay=float(pcfg["weight_decay"]))
    ce, mse = nn.CrossEntropyLoss(), nn.MSELoss()
    wq = float(pcfg["quadrant_weight"])

    def loss_fn(xb, yb, cb):
        reg, logits = net(xb)
        return mse(reg, yb) + wq * ce(logits, cb)

    bs = max(1, int(pcfg["batch_size"]))
    best = (float("inf"), -1, None)
    history, patience, since = [], int(pcfg["patience"]), 0
    epoch = 0
    for epoch in range(1, int(pcfg["epochs"]) + 1):
        net.train()
        perm = torch.randperm(x.shape[0], generator=gen)
        tot = 0.0
        for i in range(0, x.shape[0], bs):
            idx = perm[i:i + bs]
            opt.zero_grad()
            loss = loss_fn(x[idx], y[idx], c[idx])
            loss.backward()
            opt.step()
            tot += loss.item() * idx.numel()
        row = {"epoch": epoch, "train_loss": tot / x.shape[0]}
        if xv is not None:
            net.eval()
            with torch.no_grad():
                vl = float(loss_fn(xv, yv, cv))
            row["val_loss"] = vl
            if vl < best[0] - 1e-6:
                best, since = (vl, epoch, copy.deepcopy(net.state_dict())), 0
            else:
                since += 1
        history.append(row)
        if xv is not None and since >= patience:
            break
    if best[2] is not None:
        net.load_state_dict(best[2])
    net.eval()
    log = {"epochs_run": epoch, "best_epoch": best[1] if best[2] is not None else epoch,
           "early_stopping": xv is not None, "n_fit": len(fit_snaps), "n_val": len(val_snaps),
           "val_snapshot_ids": [s["snapshot_id"] for s in val_snaps], "history": history}
    pred = Predictor(spec, net, arch, t_mean.tolist(), t_std.tolist(),
                     meta={"seed": int(seed), "n_train": len(train), "config": dict(pcfg)})
    return pred, log


def fold_of(snap: dict, n_folds: int, seed: int) -> int:
    return int(hash_fraction(str(snap.get("trajectory_id", snap["snapshot_id"])), salt=f"predictor_fold{seed}")
               * n_folds)


def out_of_fold_predictions(train: list[dict], pcfg: dict, families: list[str], seed: int) -> dict:
    """Cross-fitted predictions for the training snapshots: folds by trajectory, each
    fold scored by a predictor (same recipe) trained on the other folds, so no snapshot
    is scored by a model that saw its own label. {snapshot_id: {"fold", target: value}}."""
    n_folds = int(pcfg["oof_folds"])
    folds = np.array([fold_of(s, n_folds, seed) for s in train])
    out: dict = {}
    for f in range(n_folds):
        test = [s for s, k in zip(train, folds) if k == f]
        fit = [s for s, k in zip(train, folds) if k != f]
        if not test:
            continue
        if len(fit) < 2:
            raise InputError(f"predictor: fold {f} leaves {len(fit)} training snapshots; lower predictor.oof_folds")
        model, _ = fit_predictor(fit, pcfg, families, derive_seed(seed, "predictor_oof", f))
        pred = model.predict(test)
        for i, s in enumerate(test):
            out[s["snapshot_id"]] = {"fold": f, **{t: float(pred[t][i]) for t in REG_TARGETS},
                                     "quadrant": pred["quadrant"][i]}
    return out
