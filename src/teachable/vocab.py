"""The study's vocabulary, defined once (docs/design.md): quadrants, supervision formats,
routes, CPT conditions, run ids, selection methods and figure names.

Every other module, rule file and script imports these names from here; a set with a
different meaning gets a different name (ROUTES_OR_NONE, SELECTION_FORMATS). This module
imports nothing (not from teachable, not from third parties), so the Snakefile and any
light script can use it at no cost (tests/test_vocab.py checks that)."""

# U x L_local quadrants of phase 1, in this order everywhere (tables, figures, the
# predictor's classes)
QUADRANTS = ("Q1_highU_highL", "Q2_highU_lowL", "Q3_lowU_lowL", "Q4_lowU_highL")

# supervision formats of phase 2 (teachable.training.formats)
FORMATS = ("demo", "hint", "contrast")
# a snapshot's route: the format its CPT gains favour (route_net); this order is also the
# tie order of route_net (first wins)
ROUTES = FORMATS
# routes as the figures count them: a snapshot without a positive gain has route "none"
ROUTES_OR_NONE = ROUTES + ("none",)
# selection.format: a fixed format, or each snapshot's own route
SELECTION_FORMATS = FORMATS + ("route",)

# conditions of the contextual patch test (CPT): the unpatched prompt, the placebo patch
# and one patch per format (teachable.prompts.patch_text)
CONDITIONS = ("base", "placebo", "demo", "contrast", "hint")
# episode modes of the rollout engine (teachable.engine); as phase-1 conditions they give
# leverage: the student acts, the expert's first action is forced, the student deviates
# from it, the expert acts throughout
ROLLOUT_MODES = ("policy", "force", "deviate", "expert")
# the conditions a labeled snapshot has a success rate p_<c> (and mean progress prog_<c>) for
RATE_CONDITIONS = ROLLOUT_MODES + CONDITIONS[1:]

# phase-2 training runs: one per (quadrant, format), and the two baselines
BASELINES = ("B1_uniform", "B2_all")
RUN_IDS = tuple(f"{q}_{f}" for q in QUADRANTS for f in FORMATS) + BASELINES

# phase-5 selection arms, and those whose picks are redrawn per training seed
SELECTION_METHODS = ("random", "entropy", "predictor", "oracle")
PER_SEED_METHODS = ("random",)

# paper figures (teachable.figures.FIGURES, teachable.workflow.dag.FIGURE_INPUTS), in report order
FIGURE_NAMES = ("landscape", "elp_by_quadrant", "route_mix", "cpt_validation", "supervision_heatmap",
                "transfer_heatmap", "frontier", "stuckness", "predictor", "selection")
