# Validation re-runs: `snakemake validate` re-trains and re-evaluates the top-K phase-2
# configurations with fresh seeds (validation.phases / validation.phase). Done
# (run, seed) pairs are never re-run: the seed is a wildcard, not a param. Every
# validation evaluation (BASE included) uses FRESH tasks (stage key 'validation_tasks')
# and the disjoint panel part 1 (validation_evaluate.py --fresh), not the tasks and panel of
# phase 3 that picked the top-K (docs/training.md, "Validation on fresh tasks").
VAL = f"{R}/validation"
# fresh seeds of the current phase (from the config, not the checkpoint, so a new phase
# only adds jobs)
VALIDATION_SEEDS = validation_seeds(config["validation"])


checkpoint validation_select:
    input:
        rules.evaluation_tables.output.overall_task_results,
    output:
        f"{VAL}/selected.json",
    log:
        f"{R}/logs/validation/select.log",
    localrule: True
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


# train_seed's recipe (rules/training.smk, the same script and config) for one run on a
# fresh seed, recorded as stage "validation"; it writes no phase-3 blocks
rule validation_train:
    input:
        student=student_dir(),
        labeled=rules.label_gather.output.jsonl,
        replay=rules.replay_set.output.jsonl,
        replay_info=rules.replay_set.output.info,
    output:
        adapter=directory(f"{VAL}/{{run_id}}/seed{{seed}}/adapter"),
        run=f"{VAL}/{{run_id}}/seed{{seed}}/run.json",
        metrics=f"{VAL}/{{run_id}}/seed{{seed}}/metrics.jsonl",
    log:
        f"{R}/logs/validation/{{run_id}}_seed{{seed}}_train.log",
    benchmark:
        f"{R}/benchmarks/validation/{{run_id}}_seed{{seed}}_train.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=MODEL_GPU,
    params:
        cfg=rules.train_seed.params.cfg,
        student=student_arg,
        out=lambda wildcards, output: os.path.dirname(output.run),
    shell:
        "python scripts/train_seed.py --cfg {params.cfg:q} {params.student} --labeled {input.labeled}"
        " --replay {input.replay} --replay-info {input.replay_info} --run-id {wildcards.run_id} --seed {wildcards.seed}"
        " --out-dir {params.out} --stage validation --threads {threads} > {log} 2>&1"


# One model on fresh tasks and panel part 1: the whole-model counterpart of evaluate_base's
# blocks (its cfg param, and the model arguments of teachable.workflow.dag.model_args).
rule validation_evaluate:
    input:
        student=student_dir(),
        labeled=rules.label_gather.output.jsonl,
        adapter=rules.validation_train.output.adapter,
        base=f"{VAL}/BASE/eval.json",
    output:
        record=f"{VAL}/{{run_id}}/seed{{seed}}/eval.json",
        episodes=f"{VAL}/{{run_id}}/seed{{seed}}/eval.episodes.csv",
    log:
        f"{R}/logs/validation/{{run_id}}_seed{{seed}}_eval.log",
    benchmark:
        f"{R}/benchmarks/validation/{{run_id}}_seed{{seed}}_eval.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=MODEL_GPU,
    params:
        cfg=rules.evaluate_base.params.cfg,
        student=student_arg,
        model=dag.model_args,
    shell:
        "python scripts/validation_evaluate.py --cfg {params.cfg:q} {params.student} --labeled {input.labeled}"
        " {params.model} --out {output.record} --episodes {output.episodes} --fresh"
        " --threads {threads} > {log} 2>&1"


# BASE once: the same recipe without adapter or base record
use rule validation_evaluate as validation_base with:
    input:
        student=student_dir(),
        labeled=rules.label_gather.output.jsonl,
    output:
        record=f"{VAL}/BASE/eval.json",
        episodes=f"{VAL}/BASE/eval.episodes.csv",
    log:
        f"{R}/logs/validation/BASE_eval.log",
    benchmark:
        f"{R}/benchmarks/validation/BASE_eval.tsv"


rule validate:
    input:
        selected=rules.validation_select.output[0],
        records=lambda wc: dag.selected_records(
            checkpoints.validation_select.get().output[0], VAL, VALIDATION_SEEDS
        ),
        episodes=lambda wc: dag.episodes_of(
            dag.selected_records(
                checkpoints.validation_select.get().output[0], VAL, VALIDATION_SEEDS
            )
        ),
        base=rules.validation_base.output.record,
        base_episodes=rules.validation_base.output.episodes,
        original_base=BASE_RECORD,
        original_episodes=rules.evaluation_tables.output.episodes,
    output:
        multiext(f"{VAL}/report", ".md", ".json", ".csv", ".png"),
    log:
        f"{R}/logs/validation/report.log",
    localrule: True
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
        "python scripts/validate.py --cfg {params.cfg:q} --selected {input.selected}"
        " --seeds {params.seeds} --records {input.records} --episodes {input.episodes} --base {input.base}"
        " --base-episodes {input.base_episodes} --original-base {input.original_base}"
        " --original-episodes {input.original_episodes}"
        " --out-prefix {params.prefix} > {log} 2>&1"
