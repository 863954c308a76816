# Validation re-runs: `snakemake validate` re-trains and re-evaluates the top-K phase-2
# configurations with fresh seeds (validation.phases / validation.phase). Done
# (run, seed) pairs are never re-run: the seed is a wildcard, not a param. Every
# validation evaluation (BASE included) uses FRESH tasks (stage key 'validation_tasks')
# and the disjoint panel part 1 (evaluate_run.py --fresh), not the tasks and panel of
# phase 3 that picked the top-K (docs/training.md, "Validation on fresh tasks").
VAL = f"{R}/validation"


checkpoint validation_select:
    input:
        f"{R}/phase3/overall_task_results.csv",
    output:
        f"{VAL}/selected.json",
    log:
        f"{R}/logs/validation/select.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        # only what the selection reads: raising validation.phase adds seed jobs without
        # re-running the checkpoint, so `snakemake validate -n` lists exactly the new seeds
        cfg=cfg_json("validation.metric", "validation.column", "validation.top_k"),
    shell:
        "python scripts/validation_select.py --cfg {params.cfg:q} --overall {input} --out {output} > {log} 2>&1"


rule validation_train:
    input:
        student=student_dir(),
        labeled=f"{R}/phase1/labeled_snapshots.jsonl",
    output:
        adapter=directory(f"{VAL}/{{run_id}}/seed{{seed}}/adapter"),
        run=f"{VAL}/{{run_id}}/seed{{seed}}/run.json",
        metrics=f"{VAL}/{{run_id}}/seed{{seed}}/metrics.jsonl",
    log:
        f"{R}/logs/validation/{{run_id}}_seed{{seed}}_train.log",
    benchmark:
        f"{R}/benchmarks/validation/{{run_id}}_seed{{seed}}_train.tsv"
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
        " --run-id {wildcards.run_id} --seed {wildcards.seed} --out-dir {params.out} --stage validation"
        " --threads {threads} > {log} 2>&1"


rule validation_evaluate:
    input:
        student=student_dir(),
        labeled=f"{R}/phase1/labeled_snapshots.jsonl",
        adapter=f"{VAL}/{{run_id}}/seed{{seed}}/adapter",
        base=f"{VAL}/BASE/eval.json",
    output:
        record=f"{VAL}/{{run_id}}/seed{{seed}}/eval.json",
        episodes=f"{VAL}/{{run_id}}/seed{{seed}}/eval.episodes.csv",
    log:
        f"{R}/logs/validation/{{run_id}}_seed{{seed}}_eval.log",
    benchmark:
        f"{R}/benchmarks/validation/{{run_id}}_seed{{seed}}_eval.tsv"
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
        " --out {output.record} --episodes {output.episodes} --fresh --threads {threads} > {log} 2>&1"


rule validation_base:
    input:
        student=student_dir(),
        labeled=f"{R}/phase1/labeled_snapshots.jsonl",
    output:
        record=f"{VAL}/BASE/eval.json",
        episodes=f"{VAL}/BASE/eval.episodes.csv",
    log:
        f"{R}/logs/validation/BASE_eval.log",
    benchmark:
        f"{R}/benchmarks/validation/BASE_eval.tsv"
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
        " --run-id BASE --seed 0 --out {output.record} --episodes {output.episodes} --fresh"
        " --threads {threads} > {log} 2>&1"


rule validate:
    input:
        selected=f"{VAL}/selected.json",
        records=validation_records,
        episodes=validation_episodes,
        base=f"{VAL}/BASE/eval.json",
        base_episodes=f"{VAL}/BASE/eval.episodes.csv",
        original_base=f"{R}/phase3/runs/BASE/seed0.json",
        original_episodes=f"{R}/phase3/episodes.csv",
    output:
        multiext(f"{VAL}/report", ".md", ".json", ".csv", ".png"),
    log:
        f"{R}/logs/validation/report.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        cfg=cfg_json("validation", "stats"),
        seeds=" ".join(str(s) for s in VALIDATION_SEEDS),
        prefix=lambda wildcards, output: output[0][: -len(".md")],
    shell:
        "python scripts/validation_report.py --cfg {params.cfg:q} --selected {input.selected}"
        " --seeds {params.seeds} --records {input.records} --episodes {input.episodes} --base {input.base}"
        " --base-episodes {input.base_episodes} --original-base {input.original_base}"
        " --original-episodes {input.original_episodes}"
        " --out-prefix {params.prefix} > {log} 2>&1"
