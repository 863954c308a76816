# teachable: which failure states of an LM agent are worth teaching?
# Stages live in rules/*.smk; logic lives in src/teachable; scripts/ are thin CLIs.


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/student.smk"
include: "rules/phase0.smk"
include: "rules/phase1.smk"


localrules:
    all,
    label_gather,


rule all:
    default_target: True
    input:
        ALL_TARGETS,
