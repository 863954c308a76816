# teachable: which failure states of an LM agent are worth teaching?
# Stages live in rules/*.smk; logic lives in src/teachable; scripts/ are thin CLIs.


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/textworld.smk"
include: "rules/student.smk"
include: "rules/phase0.smk"
include: "rules/phase1.smk"
include: "rules/phase1b.smk"
include: "rules/phase2.smk"
include: "rules/phase3.smk"
include: "rules/phase4.smk"
include: "rules/phase5.smk"
include: "rules/validation.smk"
include: "rules/analysis.smk"


localrules:
    all,
    label_gather,
    cpt_correlation,
    training_summary,
    phase3_tables,
    selection_pick,
    selection_summary,
    validation_select,
    validate,
    fig_landscape,
    fig_elp_by_quadrant,
    fig_route_mix,
    fig_cpt_validation,
    fig_supervision_heatmap,
    fig_transfer_heatmap,
    fig_frontier,
    fig_stuckness,
    fig_predictor,
    fig_selection,
    tables,
    gates,
    registry,


rule all:
    default_target: True
    input:
        ALL_TARGETS,
