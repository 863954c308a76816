# teachable: which failure states of an LM agent are worth teaching?
# Stages live in rules/*.smk; logic lives in src/teachable; scripts/ are thin CLIs.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")


# `snakemake --report report.html`: the workflow's description; outputs wrapped in
# report() (rules/analysis.smk) are its figures and tables.
report: "report/workflow.rst"


# The pilot file applies only when no --configfile is given: a given file is never merged
# onto the pilot's values (docs/cluster.md). `teachable config show` prints the same result.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))
from teachable.config import default_configfiles

for _cf in default_configfiles(workflow.overwrite_configfiles):

    configfile: _cf


include: "rules/common.smk"
include: "rules/textworld.smk"
include: "rules/student.smk"
include: "rules/mining.smk"
include: "rules/labeling.smk"
include: "rules/micro_training.smk"
include: "rules/training.smk"
include: "rules/evaluation.smk"
include: "rules/controls.smk"
include: "rules/predictor.smk"
include: "rules/selection.smk"
include: "rules/validation.smk"
include: "rules/analysis.smk"


# One set of wildcard values for every rule, from the library's own lists (rules may still
# narrow them): the study's vocabulary, teachable.vocab.
from teachable.vocab import FIGURE_NAMES, RUN_IDS, SELECTION_METHODS


wildcard_constraints:
    run_id="|".join(RUN_IDS),
    seed=r"\d+",
    method="|".join(SELECTION_METHODS),
    name="|".join(FIGURE_NAMES),


rule all:
    default_target: True
    input:
        ALL_TARGETS,
    localrule: True
