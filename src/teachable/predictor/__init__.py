"""Phase 4: a cheap predictor of teachability (L_local, ELP_net, quadrant) from features
available before any rollout (docs/predictor.md)."""

from .features import LABEL_KEYS, featurize, fit_feature_spec, hashed_text
from .metrics import ndcg_at_k, precision_at_k, r2, r2_report, relevant_at_k, spearman
from .model import REG_TARGETS, Predictor, fit_predictor, out_of_fold_predictions
from .pipeline import DEFAULTS, predictor_config, run_phase4, split_snapshots, write_phase4

__all__ = [
    "LABEL_KEYS", "featurize", "fit_feature_spec", "hashed_text", "ndcg_at_k", "precision_at_k", "r2",
    "r2_report", "relevant_at_k", "spearman", "REG_TARGETS", "Predictor", "fit_predictor",
    "out_of_fold_predictions", "DEFAULTS", "predictor_config", "run_phase4", "split_snapshots", "write_phase4",
]
