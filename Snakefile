# teachable: which failure states of an LM agent are worth teaching?
# Stages live in rules/*.smk; logic lives in src/teachable; scripts/ are thin CLIs.


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/student.smk"
include: "rules/phase0.smk"
include: "rules/phase1.smk"
include: "rules/phase1b.smk"
include: "rules/phase2.smk"
include: "rules/phase3.smk"
include: "rules/phase4.smk"
include: "rules/phase5.smk"
include: "rules/validation.smk"


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


rule all:
    default_target: True
    input:
        ALL_TARGETS,
