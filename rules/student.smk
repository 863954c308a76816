# The bootstrap student and its learning curve: rules under every config; in the DAG
# only with student.base_model: bootstrap (student_dir and the gates ask for them).
rule build_student:
    input:
        games=env_games(),
    output:
        directory(f"{R}/student/base"),
    log:
        f"{R}/logs/build_student.log",
    benchmark:
        f"{R}/benchmarks/build_student.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=MODEL_GPU,
    params:
        cfg=cfg_json(
            "env",
            "student",
            "bootstrap",
            "gates.strict",
            "gates.warmstart_ratio_range",
        ),
    shell:
        "python scripts/build_student.py --cfg {params.cfg:q} --out {output} --threads {threads} > {log} 2>&1"


rule learnability:
    input:
        games=env_games(),
    output:
        f"{R}/student/learnability.json",
    log:
        f"{R}/logs/learnability.log",
    benchmark:
        f"{R}/benchmarks/learnability.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
        gpu=MODEL_GPU,
    params:
        cfg=cfg_json("env", "student", "bootstrap"),
    shell:
        "python scripts/learnability.py --cfg {params.cfg:q} --out {output} --threads {threads} > {log} 2>&1"


if BOOTSTRAP:
    ALL_TARGETS.append(f"{R}/student/base")
    ALL_TARGETS.append(f"{R}/student/learnability.json")
