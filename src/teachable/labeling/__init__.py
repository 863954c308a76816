"""Phase 1 labels (DESIGN §6): uncertainty, leverage, CPT, depth, quadrants, split."""
