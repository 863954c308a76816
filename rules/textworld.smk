# TextWorld games (docs/environments.md): a rule under every config; its output is in
# the DAG only when env.name is textworld (student_dir / env_games ask for it).
rule textworld_games:
    output:
        directory(TW_GAMES),
    log:
        f"{R}/logs/textworld_games.log",
    benchmark:
        f"{R}/benchmarks/textworld_games.tsv"
    conda:
        CONDA_ENV
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=cfg_json("env"),
    shell:
        "python scripts/textworld_games.py --cfg {params.cfg:q} --out {output} --threads {threads} > {log} 2>&1"


if TEXTWORLD:
    ALL_TARGETS.append(TW_GAMES)
