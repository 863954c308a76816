# Phase 3: each model's episodes (tasks, then the panel) in blocks of eval.shard_size; a
# per-model gather writes the record and episodes files; then the tables. BASE is evaluated
# once (greedy and deterministic) by evaluate_base, one job per block; a trained run's
# blocks are written by its seed's train_seed job (rules/training.smk).

from teachable.vocab import RUN_IDS


rule evaluate_base:
    input:
        student=student_dir(),
        labeled=rules.label_gather.output.jsonl,
    output:
        f"{P3B}/BASE/seed0/block{{shard}}.json",
    log:
        f"{R}/logs/phase3/BASE_block{{shard}}.log",
    benchmark:
        f"{R}/benchmarks/phase3/BASE_block{{shard}}.tsv"
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
        model=dag.model_args,
        shard_size=config["eval"]["shard_size"],
    shell:
        "python scripts/evaluate_base.py --cfg {params.cfg:q} {params.student} --labeled {input.labeled}"
        " {params.model} --shard {wildcards.shard} --shard-size {params.shard_size} --out {output}"
        " --threads {threads} > {log} 2>&1"


rule evaluate_gather:
    input:
        unpack(
            lambda wc: dag.eval_gather_inputs(
                wc, EVAL_BLOCK, len(EVAL_BLOCKS), BASE_RECORD
            )
        ),
    output:
        record=f"{R}/phase3/runs/{{run_id}}/seed{{seed}}.json",
        episodes=f"{R}/phase3/runs/{{run_id}}/seed{{seed}}.episodes.csv",
    log:
        f"{R}/logs/phase3/{{run_id}}_seed{{seed}}_gather.log",
    wildcard_constraints:
        run_id="|".join(["BASE", *RUN_IDS]),
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        base=lambda wc, input: f"--base {input.base}" if "base" in input.keys() else "",
    shell:
        "python scripts/evaluate_gather.py --blocks {input.blocks} {params.base}"
        " --out {output.record} --episodes {output.episodes} > {log} 2>&1"


# every evaluated model, BASE first: (run_id, seed) pairs
MODELS = [("BASE", 0)] + [(r, s) for r in RUN_IDS for s in TRAIN_SEEDS]
MODEL_WILDCARDS = dict(run_id=[m for m, _ in MODELS], seed=[s for _, s in MODELS])


rule evaluation_tables:
    input:
        records=expand(rules.evaluate_gather.output.record, zip, **MODEL_WILDCARDS),
        episodes=expand(rules.evaluate_gather.output.episodes, zip, **MODEL_WILDCARDS),
    output:
        **{t: f"{R}/phase3/{t}.csv" for t in PHASE3_TABLES},
        episodes=f"{R}/phase3/episodes.csv",
    log:
        f"{R}/logs/phase3/tables.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=cfg_json("stats"),
        out=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        "python scripts/evaluation_tables.py --cfg {params.cfg:q} --records {input.records}"
        " --episodes {input.episodes} --out-dir {params.out} > {log} 2>&1"


ALL_TARGETS.extend(rules.evaluation_tables.output)
