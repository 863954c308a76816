# Analysis: figures, tables and gates (docs/figures.md). Every rule here is cheap
# aggregation (localrules). Outputs are wrapped in report() for `snakemake --report`.

FIG = f"{R}/figures"
# The figure/table code is an input, so editing it re-runs figures and tables (and only them).
FIGURE_CODE = [
    f"{workflow.basedir}/src/teachable/figures.py",
    f"{workflow.basedir}/scripts/make_figure.py",
    f"{workflow.basedir}/scripts/make_tables.py",
]
TABLES = [
    "overall_task_results",
    "per_quadrant_results",
    "transfer_matrix",
    "retention_results",
    "stuckness_results",
]


rule fig_landscape:
    input:
        code=FIGURE_CODE,
        snapshots=f"{R}/phase1/labeled_snapshots.jsonl",
        thresholds=f"{R}/phase1/quadrant_thresholds_auto.json",
    output:
        png=report(
            f"{FIG}/landscape.png",
            caption="../report/landscape.rst",
            category="Phase 1 labels",
        ),
        pdf=f"{FIG}/landscape.pdf",
    log:
        f"{R}/logs/fig_landscape.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/make_figure.py --name landscape --input snapshots={input.snapshots:q} --input thresholds={input.thresholds:q} --out {output.png:q} > {log} 2>&1"


rule fig_elp_by_quadrant:
    input:
        code=FIGURE_CODE,
        snapshots=f"{R}/phase1/labeled_snapshots.jsonl",
    output:
        png=report(
            f"{FIG}/elp_by_quadrant.png",
            caption="../report/elp_by_quadrant.rst",
            category="Phase 1 labels",
        ),
        pdf=f"{FIG}/elp_by_quadrant.pdf",
    log:
        f"{R}/logs/fig_elp_by_quadrant.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/make_figure.py --name elp_by_quadrant --input snapshots={input.snapshots:q} --out {output.png:q} > {log} 2>&1"


rule fig_route_mix:
    input:
        code=FIGURE_CODE,
        snapshots=f"{R}/phase1/labeled_snapshots.jsonl",
    output:
        png=report(
            f"{FIG}/route_mix.png",
            caption="../report/route_mix.rst",
            category="Phase 1 labels",
        ),
        pdf=f"{FIG}/route_mix.pdf",
    log:
        f"{R}/logs/fig_route_mix.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/make_figure.py --name route_mix --input snapshots={input.snapshots:q} --out {output.png:q} > {log} 2>&1"


rule fig_cpt_validation:
    input:
        code=FIGURE_CODE,
        micro_results=f"{R}/phase1b/micro_training_results.json",
        cpt_correlation=f"{R}/phase1b/cpt_correlation.json",
    output:
        png=report(
            f"{FIG}/cpt_validation.png",
            caption="../report/cpt_validation.rst",
            category="Phase 1B CPT validation",
        ),
        pdf=f"{FIG}/cpt_validation.pdf",
    log:
        f"{R}/logs/fig_cpt_validation.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/make_figure.py --name cpt_validation --input micro_results={input.micro_results:q} --input cpt_correlation={input.cpt_correlation:q} --out {output.png:q} > {log} 2>&1"


rule fig_supervision_heatmap:
    input:
        code=FIGURE_CODE,
        overall=f"{R}/phase3/overall_task_results.csv",
    output:
        png=report(
            f"{FIG}/supervision_heatmap.png",
            caption="../report/supervision_heatmap.rst",
            category="Phase 3 evaluation",
        ),
        pdf=f"{FIG}/supervision_heatmap.pdf",
    log:
        f"{R}/logs/fig_supervision_heatmap.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/make_figure.py --name supervision_heatmap --input overall={input.overall:q} --out {output.png:q} > {log} 2>&1"


rule fig_transfer_heatmap:
    input:
        code=FIGURE_CODE,
        transfer=f"{R}/phase3/transfer_matrix.csv",
    output:
        png=report(
            f"{FIG}/transfer_heatmap.png",
            caption="../report/transfer_heatmap.rst",
            category="Phase 3 evaluation",
        ),
        pdf=f"{FIG}/transfer_heatmap.pdf",
    log:
        f"{R}/logs/fig_transfer_heatmap.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/make_figure.py --name transfer_heatmap --input transfer={input.transfer:q} --out {output.png:q} > {log} 2>&1"


rule fig_frontier:
    input:
        code=FIGURE_CODE,
        overall=f"{R}/phase3/overall_task_results.csv",
        retention=f"{R}/phase3/retention_results.csv",
    output:
        png=report(
            f"{FIG}/frontier.png",
            caption="../report/frontier.rst",
            category="Phase 3 evaluation",
        ),
        pdf=f"{FIG}/frontier.pdf",
    log:
        f"{R}/logs/fig_frontier.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/make_figure.py --name frontier --input overall={input.overall:q} --input retention={input.retention:q} --out {output.png:q} > {log} 2>&1"


rule fig_stuckness:
    input:
        code=FIGURE_CODE,
        stuck=f"{R}/phase3/stuckness_results.csv",
    output:
        png=report(
            f"{FIG}/stuckness.png",
            caption="../report/stuckness.rst",
            category="Phase 3 evaluation",
        ),
        pdf=f"{FIG}/stuckness.pdf",
    log:
        f"{R}/logs/fig_stuckness.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/make_figure.py --name stuckness --input stuck={input.stuck:q} --out {output.png:q} > {log} 2>&1"


rule fig_predictor:
    input:
        code=FIGURE_CODE,
        training_result=f"{R}/phase4/training_result.json",
    output:
        png=report(
            f"{FIG}/predictor.png",
            caption="../report/predictor.rst",
            category="Phase 4 predictor",
        ),
        pdf=f"{FIG}/predictor.pdf",
    log:
        f"{R}/logs/fig_predictor.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/make_figure.py --name predictor --input training_result={input.training_result:q} --out {output.png:q} > {log} 2>&1"


rule fig_selection:
    input:
        code=FIGURE_CODE,
        comparison=f"{R}/phase5/selection/selection_comparison.csv",
    output:
        png=report(
            f"{FIG}/selection.png",
            caption="../report/selection.rst",
            category="Phase 5 selection",
        ),
        pdf=f"{FIG}/selection.pdf",
    log:
        f"{R}/logs/fig_selection.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/make_figure.py --name selection --input comparison={input.comparison:q} --out {output.png:q} > {log} 2>&1"


rule tables:
    input:
        code=FIGURE_CODE,
        csv=expand(f"{R}/phase3/{{t}}.csv", t=TABLES),
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
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        out=lambda wildcards, output: os.path.dirname(output.md[0]),
    shell:
        "python scripts/make_tables.py --csv {input.csv} --out-dir {params.out} > {log} 2>&1"


rule gates:
    input:
        labeling_metadata=f"{R}/phase1/labeling_metadata.json",
        label_reliability=f"{R}/phase1/label_reliability.json",
        cpt_correlation=f"{R}/phase1b/cpt_correlation.json",
        snapshots=f"{R}/phase1/labeled_snapshots.jsonl",
        micro_results=f"{R}/phase1b/micro_training_results.json",
        episodes=f"{R}/phase3/episodes.csv",
        retention=f"{R}/phase3/retention_results.csv",
        training_result=f"{R}/phase4/training_result.json",
        selection_summary=f"{R}/phase5/selection/selection_summary.json",
    output:
        report(f"{R}/gates.json", caption="../report/gates.rst", category="Gates"),
    log:
        f"{R}/logs/gates.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        cfg=cfg_json("gates", "stats"),
    shell:
        "python scripts/collect_gates.py --cfg {params.cfg:q} --labeling-metadata {input.labeling_metadata}"
        " --label-reliability {input.label_reliability} --cpt-correlation {input.cpt_correlation} --micro-results {input.micro_results} --snapshots {input.snapshots}"
        " --episodes {input.episodes} --retention {input.retention} --training-result {input.training_result}"
        " --selection-summary {input.selection_summary} --out {output} > {log} 2>&1"


rule registry:
    input:
        training_summary=f"{R}/phase2/training_summary.json",
        evaluations=f"{R}/phase3/overall_task_results.csv",
        selection=f"{R}/phase5/selection/selection_summary.json",
    output:
        f"{R}/registry.sqlite",
    log:
        f"{R}/logs/registry.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        cfg=cfg_json("tracking"),
        results=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "python scripts/build_registry.py --cfg {params.cfg:q} --results {params.results} --db {output} > {log} 2>&1"


FIGURE_NAMES = [
    "landscape",
    "elp_by_quadrant",
    "route_mix",
    "cpt_validation",
    "supervision_heatmap",
    "transfer_heatmap",
    "frontier",
    "stuckness",
    "predictor",
    "selection",
]
ALL_TARGETS.extend(
    expand(f"{FIG}/{{name}}.{{ext}}", name=FIGURE_NAMES, ext=["png", "pdf"])
    + expand(f"{R}/tables/{{t}}.{{ext}}", t=TABLES, ext=["csv", "md"])
    + [f"{R}/gates.json", f"{R}/registry.sqlite"]
)
