# Phase-0 rollouts: one job per block of phase0.shard_size task ids, then a gather.
P0_SHARDS = list(range(STAGE_SHARDS["phase0"]))


rule mining_rollouts:
    input:
        student=student_dir(),
    output:
        f"{R}/phase0/rollouts/shard{{shard}}.json",
    log:
        f"{R}/logs/mining_rollouts{{shard}}.log",
    benchmark:
        f"{R}/benchmarks/mining_rollouts{{shard}}.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=MODEL_GPU,
    params:
        cfg=cfg_json("env", "student", "phase0"),
        student=student_arg,
        shard_size=config["phase0"]["shard_size"],
    shell:
        "python scripts/mining_rollouts.py --cfg {params.cfg:q} {params.student} --shard {wildcards.shard}"
        " --shard-size {params.shard_size} --out {output} --threads {threads} > {log} 2>&1"


rule mining_gather:
    input:
        expand(rules.mining_rollouts.output[0], shard=P0_SHARDS),
    output:
        f"{R}/phase0/rollouts.json",
    log:
        f"{R}/logs/mining_gather.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python scripts/mining_gather.py --shards {input} --out {output} > {log} 2>&1"


rule mining_snapshots:
    input:
        rules.mining_gather.output[0],
    output:
        f"{R}/phase0/failure_snapshots.json",
    log:
        f"{R}/logs/mining_snapshots.log",
    benchmark:
        f"{R}/benchmarks/mining_snapshots.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=cfg_json("env", "student", "phase0"),
    shell:
        "python scripts/mining_snapshots.py --cfg {params.cfg:q} --rollouts {input} --out {output} > {log} 2>&1"


rule mining_expert:
    input:
        student=student_dir(),
    output:
        trajectories=directory(f"{R}/phase0/expert_trajectories"),
        snapshots=f"{R}/phase0/snapshots_expert.json",
    log:
        f"{R}/logs/mining_expert.log",
    benchmark:
        f"{R}/benchmarks/mining_expert.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=MODEL_GPU,
    params:
        cfg=cfg_json("env", "student", "phase0"),
        student=student_arg,
    shell:
        "python scripts/mining_expert.py --cfg {params.cfg:q} {params.student} --out-dir {output.trajectories}"
        " --out-snapshots {output.snapshots} --threads {threads} > {log} 2>&1"


rule mining_restore_check:
    input:
        failure=rules.mining_snapshots.output[0],
        expert=rules.mining_expert.output.snapshots,
    output:
        f"{R}/phase0/state_restore_check.json",
    log:
        f"{R}/logs/mining_restore_check.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        cfg=cfg_json("env", "phase0"),
    shell:
        "python scripts/mining_restore_check.py --cfg {params.cfg:q} --snapshots {input.failure} {input.expert}"
        " --out {output} > {log} 2>&1"


ALL_TARGETS.extend(
    [
        f"{R}/phase0/rollouts.json",
        f"{R}/phase0/failure_snapshots.json",
        f"{R}/phase0/snapshots_expert.json",
        f"{R}/phase0/expert_trajectories",
        f"{R}/phase0/state_restore_check.json",
    ]
)
