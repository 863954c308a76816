"""Cheap features of a labeled snapshot: structural + uncertainty + hashed text + family.

Everything here is computable *before* any rollout or teacher call: the structural
features of phase 1 (`snap["features"]`), the student's uncertainty at the state, a
hashed bag of words of the mission and the observation, and a one-hot of the task
family. No label (leverage, CPT, ELP, quadrant, depth) is ever read, and
`check_no_leakage` refuses a feature whose name is a label key.

Text hashing uses `hashlib.blake2b` (stable across processes and machines; Python's
built-in `hash` is salted per process and would change the features every run)."""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np

from ..io import InputError
from ..vocab import RATE_CONDITIONS

SCHEMA_VERSION = 1
UNCERTAINTY = ("U", "U_norm", "margin", "topk_spread", "effective_actions")
TEXT_FIELDS = (("mission", "m"), ("obs_text", "o"))  # (snapshot key, hash namespace)
OTHER_FAMILY = "__other__"
# Keys written by phase-1 labeling that depend on rollouts, the teacher or the split: a
# feature with one of these names would leak the target (or its ingredients) into the input.
LABEL_KEYS = frozenset({
    "L_local", "L_upper", "ELP_net", "ELP_raw", "route_net", "route_raw", "quadrant",
    "ELP_net_xfit", "route_net_xfit", "rollout_outcomes", "L_local_plugin", "p_deviate", "pi_expert",
    "p_policy", "p_force", "p_expert", "n_policy", "n_force", "n_expert",
    "p_base", "p_placebo", "p_demo", "p_contrast", "p_hint", "n_cpt",
    "gain_net_demo", "gain_net_hint", "gain_net_contrast",
    "gain_raw_demo", "gain_raw_hint", "gain_raw_contrast",
    "d_expert", "d_force", "n_offsets_in_trajectory", "teacher", "heldout", "split_key",
    "expert_action", "expert_subgoal", "suggested_action", "label_outcome", "rollout_progress",
})
# the same labels in the other outcome (labeling.outcome) and the mean progress per condition
LABEL_KEYS = LABEL_KEYS | {f"{k}{s}" for k in LABEL_KEYS for s in ("_success", "_progress")} | {
    f"prog_{c}" for c in RATE_CONDITIONS}
_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(str(text).lower())


def ngrams(words: list[str], ns: list[int]) -> list[str]:
    out = []
    for n in ns:
        out.extend(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))
    return out


def _bucket(token: str, dim: int) -> tuple[int, float]:
    """Bucket and sign of a token (signed feature hashing: collisions cancel on average)."""
    h = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "big")
    return h % dim, (1.0 if (h >> 63) & 1 else -1.0)


def hashed_text(snap: dict, dim: int, ns: list[int]) -> np.ndarray:
    """Signed hashed bag of n-grams of the mission ("m:" tokens) and the observation
    ("o:" tokens) in one vector of `dim`; counts are squashed by sign(x) log1p(|x|) and the
    vector is L2-normalised (all zero when there is no text)."""
    v = np.zeros(dim, dtype=np.float64)
    for key, ns_prefix in TEXT_FIELDS:
        for g in ngrams(tokens(snap.get(key, "")), ns):
            i, sign = _bucket(f"{ns_prefix}:{g}", dim)
            v[i] += sign
    v = np.sign(v) * np.log1p(np.abs(v))
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def check_no_leakage(names: list[str], targets: list[str] = ()) -> None:
    bad = sorted(set(names) & (LABEL_KEYS | set(targets)))
    if bad:
        raise InputError(f"predictor features: {', '.join(bad)} would leak labels/targets into the input "
                         "(remove them from the snapshots' 'features')")


def _number(snap: dict, key: str, where: str) -> float:
    src = snap.get("features", {}) if where == "features" else snap
    if key not in src:
        raise InputError(f"snapshot {snap.get('snapshot_id', '?')}: missing "
                         f"{'features.' if where == 'features' else ''}{key} (needed by the predictor)")
    val = src[key]
    if isinstance(val, bool):
        val = int(val)
    if not isinstance(val, (int, float)) or not math.isfinite(float(val)):
        raise InputError(f"snapshot {snap.get('snapshot_id', '?')}: "
                         f"{'features.' if where == 'features' else ''}{key} = {val!r} is not a finite number")
    return float(val)


def fit_feature_spec(train: list[dict], families: list[str], hash_dim: int, ngram_sizes: list[int],
                     targets: list[str] = ()) -> dict:
    """The feature schema, with the numeric standardisation fitted on `train` only."""
    if not train:
        raise InputError("predictor: no training snapshots to fit the features on")
    for s in train:
        if not isinstance(s.get("features"), dict):
            raise InputError(f"snapshot {s.get('snapshot_id', '?')}: missing 'features' (phase-1 structural features)")
    structural = sorted({k for s in train for k in s["features"]})
    check_no_leakage(structural + list(UNCERTAINTY), targets)
    fams = list(dict.fromkeys(families)) + [OTHER_FAMILY]
    spec = {
        "version": SCHEMA_VERSION,
        "structural": structural,
        "uncertainty": list(UNCERTAINTY),
        "families": fams,
        "hash": {"dim": int(hash_dim), "ngrams": [int(n) for n in ngram_sizes],
                 "fields": {k: p for k, p in TEXT_FIELDS}, "function": "blake2b digest_size=8",
                 "bucket": "digest mod dim", "sign": "top bit of the digest",
                 "tokenizer": "lowercase, regex [a-z0-9]+",
                 "scaling": "signed counts -> sign(x)*log1p(|x|) -> L2-normalised"},
        "numeric": [f"features.{k}" for k in structural] + list(UNCERTAINTY),
    }
    num = np.array([_numeric(s, spec) for s in train])
    mean, std = num.mean(axis=0), num.std(axis=0)
    spec["numeric_mean"] = mean.tolist()
    spec["numeric_std"] = np.where(std > 1e-12, std, 1.0).tolist()
    spec["names"] = (spec["numeric"] + [f"family={f}" for f in fams]
                     + [f"hash[{i}]" for i in range(int(hash_dim))])
    spec["dim"] = len(spec["names"])
    return spec


def _numeric(snap: dict, spec: dict) -> list[float]:
    return ([_number(snap, k, "features") for k in spec["structural"]]
            + [_number(snap, k, "top") for k in spec["uncertainty"]])


def featurize(snaps: list[dict], spec: dict) -> np.ndarray:
    """Feature matrix (n, spec['dim']) in the order of spec['names'] (float32)."""
    if spec.get("version") != SCHEMA_VERSION:
        raise InputError(f"predictor feature schema version {spec.get('version')} != {SCHEMA_VERSION}")
    mean, std = np.asarray(spec["numeric_mean"]), np.asarray(spec["numeric_std"])
    fams = spec["families"]
    h = spec["hash"]
    rows = []
    for s in snaps:
        num = (np.asarray(_numeric(s, spec)) - mean) / std
        fam = np.zeros(len(fams))
        f = s.get("family")
        fam[fams.index(f) if f in fams[:-1] else len(fams) - 1] = 1.0
        rows.append(np.concatenate([num, fam, hashed_text(s, h["dim"], h["ngrams"])]))
    if not rows:
        return np.zeros((0, spec["dim"]), dtype=np.float32)
    return np.asarray(rows, dtype=np.float32)
