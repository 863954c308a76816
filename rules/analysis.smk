# Analysis: figures, tables and gates (docs/figures.md). Every rule here is cheap
# aggregation (local). Outputs are wrapped in report() for `snakemake --report`.

from teachable.workflow.dag import FIGURE_CATEGORIES, FIGURE_INPUTS
from teachable.vocab import FIGURE_NAMES

FIG = f"{R}/figures"
# The figure/table code is an input, so editing it re-runs figures and tables (and only them).
FIGURE_CODE = [
    f"{workflow.basedir}/src/teachable/figures.py",
    f"{workflow.basedir}/scripts/figure.py",
    f"{workflow.basedir}/scripts/tables.py",
]
TABLES = PHASE3_TABLES  # rules/evaluation.smk


# One rule for every figure: the name -> inputs table is teachable.workflow.dag.FIGURE_INPUTS.
rule figure:
    input:
        unpack(lambda wc: dag.figure_inputs(wc.name, R, FIGURE_INPUTS)),
        code=FIGURE_CODE,
    output:
        png=report(
            f"{FIG}/{{name}}.png",
            caption="../report/figure.rst",
            category=lambda wildcards: FIGURE_CATEGORIES[wildcards.name],
        ),
        pdf=f"{FIG}/{{name}}.pdf",
    log:
        f"{R}/logs/fig_{{name}}.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        inputs=lambda wc, input: dag.figure_input_args(wc.name, input, FIGURE_INPUTS),
        confidence=config["stats"]["confidence"],
    shell:
        "python scripts/figure.py --name {wildcards.name} {params.inputs} --confidence {params.confidence}"
        " --out {output.png:q} > {log} 2>&1"


rule tables:
    input:
        code=FIGURE_CODE,
        csv=[rules.evaluation_tables.output[t] for t in TABLES],
    output:
        csv=[
            report(
                f"{R}/tables/{t}.csv",
                caption="../report/tables.rst",
                category="Tables",
            )
            for t in TABLES
        ],
        md=expand(f"{R}/tables/{{t}}.md", t=TABLES),
    log:
        f"{R}/logs/tables.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        out=lambda wildcards, output: os.path.dirname(output.md[0]),
    shell:
        "python scripts/tables.py --csv {input.csv} --out-dir {params.out} > {log} 2>&1"


rule gates:
    input:
        controls=rules.controls.output.json,
        # the student's own checks (bootstrap students only; a hub student has neither)
        student=student_checks_inputs(),
        labeling_metadata=rules.label_gather.output.metadata,
        label_reliability=rules.label_reliability.output[0],
        cpt_correlation=rules.cpt_correlation.output[0],
        snapshots=rules.label_gather.output.jsonl,
        micro_results=rules.micro_gather.output[0],
        episodes=rules.evaluation_tables.output.episodes,
        retention=rules.evaluation_tables.output.retention_results,
        training_result=rules.train_predictor.output.result,
        selection_summary=rules.selection_summary.output.summary,
    output:
        report(f"{R}/gates.json", caption="../report/gates.rst", category="Gates"),
    log:
        f"{R}/logs/gates.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        cfg=cfg_json("gates", "stats"),
        student=student_checks_args(),
    shell:
        "python scripts/gates.py --cfg {params.cfg:q} --controls {input.controls} {params.student}"
        " --labeling-metadata {input.labeling_metadata}"
        " --label-reliability {input.label_reliability} --cpt-correlation {input.cpt_correlation} --micro-results {input.micro_results} --snapshots {input.snapshots}"
        " --episodes {input.episodes} --retention {input.retention} --training-result {input.training_result}"
        " --selection-summary {input.selection_summary} --out {output} > {log} 2>&1"


# The report's front page (report/workflow.rst) reads this snippet: the verdicts in a few lines.
rule verdicts:
    input:
        gates=rules.gates.output[0],
        code=[
            f"{workflow.basedir}/src/teachable/verdicts.py",
            f"{workflow.basedir}/scripts/verdicts.py",
        ],
    output:
        report(
            f"{R}/verdicts.rst", caption="../report/verdicts.rst", category="Verdicts"
        ),
    log:
        f"{R}/logs/verdicts.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/verdicts.py --gates {input.gates} --out {output} > {log} 2>&1"


rule registry:
    input:
        training_summary=rules.training_summary.output[0],
        evaluations=rules.evaluation_tables.output.overall_task_results,
        selection=rules.selection_summary.output.summary,
    output:
        f"{R}/registry.sqlite",
    log:
        f"{R}/logs/registry.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        cfg=cfg_json("tracking"),
        results=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "python scripts/registry.py --cfg {params.cfg:q} --results {params.results} --db {output} > {log} 2>&1"


ALL_TARGETS.extend(
    expand(f"{FIG}/{{name}}.{{ext}}", name=FIGURE_NAMES, ext=["png", "pdf"])
    + expand(f"{R}/tables/{{t}}.{{ext}}", t=TABLES, ext=["csv", "md"])
    + [f"{R}/gates.json", f"{R}/verdicts.rst", f"{R}/registry.sqlite"]
)
