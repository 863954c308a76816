# labeling: jobs = ceil(snapshot bound / labeling.shard_size); snapshot i -> job i mod jobs
SHARDS = list(range(STAGE_SHARDS["labeling"]))


rule label_shard:
    input:
        student=student_dir(),
        failure=rules.mining_snapshots.output[0],
        expert=rules.mining_expert.output.snapshots,
    output:
        labels=f"{R}/phase1/shards/shard{{shard}}.jsonl",
        usage=f"{R}/phase1/shards/usage{{shard}}.json",
        flagged=f"{R}/phase1/shards/flagged{{shard}}.jsonl",
    log:
        f"{R}/logs/label_shard{{shard}}.log",
    benchmark:
        f"{R}/benchmarks/label_shard{{shard}}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=MODEL_GPU,
    params:
        cfg=cfg_json("env", "student", "teacher", "labeling"),
        student=student_arg,
        n_shards=len(SHARDS),
        cache=lambda wildcards, output: os.path.join(
            os.path.dirname(output.labels), "..", "teacher_cache"
        ),
    shell:
        "python scripts/label_shard.py --cfg {params.cfg:q} {params.student} --failure {input.failure}"
        " --expert {input.expert} --shard {wildcards.shard} --n-shards {params.n_shards}"
        " --cache-dir {params.cache} --out {output.labels} --usage {output.usage} --flagged {output.flagged} --threads {threads} > {log} 2>&1"


rule label_gather:
    input:
        labels=expand(rules.label_shard.output.labels, shard=SHARDS),
        usage=expand(rules.label_shard.output.usage, shard=SHARDS),
        flagged=expand(rules.label_shard.output.flagged, shard=SHARDS),
    output:
        jsonl=f"{R}/phase1/labeled_snapshots.jsonl",
        json=f"{R}/phase1/labeled_snapshots.json",
        thresholds=f"{R}/phase1/quadrant_thresholds_auto.json",
        quantiles=f"{R}/phase1/quantiles.json",
        metadata=f"{R}/phase1/labeling_metadata.json",
        usage=f"{R}/phase1/teacher_usage.json",
        flagged=f"{R}/phase1/teacher_flagged.jsonl",
        plots=expand(
            f"{R}/phase1/threshold_plots/{{p}}.png",
            p=["hist_U", "hist_L", "scatter_U_L"],
        ),
    log:
        f"{R}/logs/label_gather.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=cfg_json(
            "env",
            "student",
            "teacher",
            "labeling",
            "quadrants",
        ),
        out=lambda wildcards, output: os.path.dirname(output.jsonl),
    shell:
        "python scripts/label_gather.py --cfg {params.cfg:q} --shards {input.labels} --usages {input.usage}"
        " --flagged {input.flagged}"
        " --out-dir {params.out} > {log} 2>&1"


rule label_reliability:
    input:
        student=student_dir(),
        labels=rules.label_gather.output.jsonl,
        thresholds=rules.label_gather.output.thresholds,
    output:
        f"{R}/phase1/label_reliability.json",
    log:
        f"{R}/logs/label_reliability.log",
    benchmark:
        f"{R}/benchmarks/label_reliability.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=MODEL_GPU,
    params:
        cfg=cfg_json("env", "student", "labeling"),
        student=student_arg,
    shell:
        "python scripts/label_reliability.py --cfg {params.cfg:q} {params.student} --labels {input.labels}"
        " --thresholds {input.thresholds} --out {output} > {log} 2>&1"


ALL_TARGETS.extend(
    [
        rules.label_reliability.output[0],
        rules.label_gather.output.jsonl,
        rules.label_gather.output.json,
        rules.label_gather.output.thresholds,
    ]
)
