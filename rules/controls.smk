# Teachability controls: per training seed the phase-2 recipe on a positive control (teacher
# labels at the student's own states and fresh teacher demos) and the null control
# (null_replay), each evaluated on phase 3's tasks; the gather writes controls.json/.csv with
# two-level CIs, which the gate student_is_teachable reads (docs/training.md).

CONTROLS_DIR = f"{R}/controls"


rule controls_seed:
    input:
        student=student_dir(),
        base=BASE_RECORD,
        replay=rules.replay_set.output.jsonl,
        replay_info=rules.replay_set.output.info,
    output:
        f"{CONTROLS_DIR}/seed{{seed}}.json",
    log:
        f"{R}/logs/controls/seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/controls/seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=MODEL_GPU,
    params:
        cfg=dag.controls_config_json(config),
        student=student_arg,
    shell:
        "python scripts/controls.py --cfg {params.cfg:q} {params.student} --base {input.base}"
        " --replay {input.replay} --replay-info {input.replay_info} --seed {wildcards.seed}"
        " --out {output} --threads {threads} > {log} 2>&1"


rule controls:
    input:
        seeds=expand(rules.controls_seed.output[0], seed=TRAIN_SEEDS),
        base_episodes=BASE_RECORD.replace(".json", ".episodes.csv"),
    output:
        json=f"{CONTROLS_DIR}/controls.json",
        csv=f"{CONTROLS_DIR}/controls.csv",
        # the report's first category: the one-sentence answer, then the controls table
        html=report(
            f"{CONTROLS_DIR}/teachable.html",
            caption="../report/controls.rst",
            category="A. Can this student be taught?",
        ),
    log:
        f"{R}/logs/controls/gather.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=cfg_json("stats"),
    shell:
        "python scripts/controls.py --cfg {params.cfg:q} --base-episodes {input.base_episodes} --gather {input.seeds}"
        " --out {output.json} --csv {output.csv} --html {output.html} > {log} 2>&1"


ALL_TARGETS.extend(rules.controls.output)
