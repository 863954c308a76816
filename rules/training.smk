# Phase 2: the training matrix, one job per (run_id, seed), and the summary (localrule).

TRAIN_SEEDS = config["training"]["seeds"]


rule train_run:
    input:
        student=student_dir(),
        labeled=f"{R}/phase1/labeled_snapshots.jsonl",
    output:
        adapter=directory(f"{R}/phase2/{{run_id}}/seed{{seed}}/adapter"),
        run=f"{R}/phase2/{{run_id}}/seed{{seed}}/run.json",
        metrics=f"{R}/phase2/{{run_id}}/seed{{seed}}/metrics.jsonl",
    log:
        f"{R}/logs/phase2/{{run_id}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/phase2/{{run_id}}_seed{{seed}}.tsv"
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
        cfg=train_cfg_json(),
        student=student_arg,
        out=lambda wildcards, output: os.path.dirname(output.run),
    shell:
        "python scripts/train_run.py --cfg {params.cfg:q} {params.student} --labeled {input.labeled}"
        " --run-id {wildcards.run_id} --seed {wildcards.seed} --out-dir {params.out} --threads {threads}"
        " > {log} 2>&1"


rule training_summary:
    input:
        expand(
            f"{R}/phase2/{{run_id}}/seed{{seed}}/run.json",
            run_id=RUN_IDS,
            seed=TRAIN_SEEDS,
        ),
    output:
        f"{R}/phase2/training_summary.json",
    log:
        f"{R}/logs/training_summary.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/train_summary.py --runs {input} --out {output} > {log} 2>&1"


ALL_TARGETS.append(f"{R}/phase2/training_summary.json")
