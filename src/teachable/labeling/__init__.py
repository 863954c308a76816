"""Phase 1 labels (docs/design.md §6): uncertainty, leverage, CPT, depth, quadrants, split."""
