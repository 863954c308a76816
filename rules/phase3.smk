# Phase 3: one evaluation job per model (BASE once: greedy and deterministic), then tables.
EVAL_SEEDS = config["training"]["seeds"]


rule evaluate_base:
    input:
        student=student_dir(),
        labeled=f"{R}/phase1/labeled_snapshots.jsonl",
    output:
        record=f"{R}/phase3/runs/BASE/seed0.json",
        episodes=f"{R}/phase3/runs/BASE/seed0.episodes.csv",
    log:
        f"{R}/logs/phase3/BASE.log",
    benchmark:
        f"{R}/benchmarks/phase3/BASE.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=MODEL_GPU,
    params:
        cfg=cfg_json("env", "student", "eval"),
        student=student_arg,
    shell:
        "python scripts/evaluate_run.py --cfg {params.cfg:q} {params.student} --labeled {input.labeled}"
        " --run-id BASE --seed 0 --out {output.record} --episodes {output.episodes} --threads {threads} > {log} 2>&1"


rule evaluate_run:
    input:
        student=student_dir(),
        labeled=f"{R}/phase1/labeled_snapshots.jsonl",
        adapter=f"{R}/phase2/{{run_id}}/seed{{seed}}/adapter",
        base=f"{R}/phase3/runs/BASE/seed0.json",
    output:
        record=f"{R}/phase3/runs/{{run_id}}/seed{{seed}}.json",
        episodes=f"{R}/phase3/runs/{{run_id}}/seed{{seed}}.episodes.csv",
    log:
        f"{R}/logs/phase3/{{run_id}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/phase3/{{run_id}}_seed{{seed}}.tsv"
    wildcard_constraints:
        run_id="|".join(RUN_IDS),
        seed=r"\d+",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=MODEL_GPU,
    params:
        cfg=cfg_json("env", "student", "eval"),
        student=student_arg,
    shell:
        "python scripts/evaluate_run.py --cfg {params.cfg:q} {params.student} --labeled {input.labeled}"
        " --run-id {wildcards.run_id} --seed {wildcards.seed} --adapter {input.adapter} --base {input.base}"
        " --out {output.record} --episodes {output.episodes} --threads {threads} > {log} 2>&1"


PHASE3_RUNS = [f"{R}/phase3/runs/BASE/seed0"] + expand(
    f"{R}/phase3/runs/{{run_id}}/seed{{seed}}", run_id=RUN_IDS, seed=EVAL_SEEDS
)
PHASE3_TABLES = [
    "episodes",
    "overall_task_results",
    "per_quadrant_results",
    "transfer_matrix",
    "retention_results",
    "stuckness_results",
]


rule phase3_tables:
    input:
        records=[f"{p}.json" for p in PHASE3_RUNS],
        episodes=[f"{p}.episodes.csv" for p in PHASE3_RUNS],
    output:
        expand(f"{R}/phase3/{{name}}.csv", name=PHASE3_TABLES),
    log:
        f"{R}/logs/phase3/tables.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=cfg_json("stats"),
        out=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "python scripts/phase3_tables.py --cfg {params.cfg:q} --records {input.records}"
        " --episodes {input.episodes} --out-dir {params.out} > {log} 2>&1"


ALL_TARGETS.extend(expand(f"{R}/phase3/{{name}}.csv", name=PHASE3_TABLES))
