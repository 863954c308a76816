# teachable: which failure states of an LM agent are worth teaching?
# Stages live in rules/*.smk; logic lives in src/teachable; scripts/ are thin CLIs.

from snakemake.utils import min_version

min_version("9.0")


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
include: "rules/analysis.smk"


# One set of wildcard values for every rule, from the library's own lists (rules may still
# narrow them). RUN_IDS comes from rules/common.smk.
from teachable.figures import FIGURE_NAMES
from teachable.selection.pick import METHODS as SELECTION_METHODS


wildcard_constraints:
    run_id="|".join(RUN_IDS),
    seed=r"\d+",
    method="|".join(SELECTION_METHODS),
    name="|".join(FIGURE_NAMES),


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
    tables,
    gates,
    registry,


rule all:
    default_target: True
    input:
        ALL_TARGETS,
