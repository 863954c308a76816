# Phase 1B: micro-training of a quadrant-stratified panel (one job per block of
# phase1b.shard_size panel snapshots, one model load each; a gather merges them in panel
# order) and the ELP_net-vs-utility correlation with the cpt_spearman gate (cheap; a localrule).
MICRO_SHARDS = list(range(STAGE_SHARDS["micro"]))


rule micro_training:
    input:
        student=student_dir(),
        labeled=rules.label_gather.output.jsonl,
    output:
        f"{R}/phase1b/micro/shard{{shard}}.json",
    log:
        f"{R}/logs/micro_training{{shard}}.log",
    benchmark:
        f"{R}/benchmarks/micro_training{{shard}}.tsv"
    conda:
        CONDA_ENV
    # one thread: a second one did not speed a shard up (TextWorld pilot: 41.9 s wall with 2,
    # 40.7 s with 1), and the two pilot shards then run side by side
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=MODEL_GPU,
    params:
        cfg=cfg_json("env", "student", "labeling", "phase1b"),
        student=student_arg,
        shard_size=config["phase1b"]["shard_size"],
    shell:
        "python scripts/micro_training.py --cfg {params.cfg:q} {params.student} --labeled {input.labeled}"
        " --shard {wildcards.shard} --shard-size {params.shard_size} --out {output} --threads {threads} > {log} 2>&1"


rule micro_gather:
    input:
        expand(rules.micro_training.output[0], shard=MICRO_SHARDS),
    output:
        f"{R}/phase1b/micro_training_results.json",
    log:
        f"{R}/logs/micro_gather.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python scripts/micro_gather.py --shards {input} --out {output} > {log} 2>&1"


rule cpt_correlation:
    input:
        rules.micro_gather.output[0],
    output:
        f"{R}/phase1b/cpt_correlation.json",
    log:
        f"{R}/logs/cpt_correlation.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=cfg_json("phase1b", "gates.strict", "gates.cpt_spearman_min"),
    shell:
        "python scripts/cpt_correlation.py --cfg {params.cfg:q} --results {input} --out {output} > {log} 2>&1"


ALL_TARGETS.extend(
    [
        f"{R}/phase1b/micro_training_results.json",
        f"{R}/phase1b/cpt_correlation.json",
    ]
)
