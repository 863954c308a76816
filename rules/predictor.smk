# Phase 4: the teachability predictor (CPU; seconds to minutes).


rule train_predictor:
    input:
        rules.label_gather.output.jsonl,
    output:
        model=f"{R}/phase4/predictor/model.pt",
        config=f"{R}/phase4/predictor/config.json",
        oof=f"{R}/phase4/predictor/train_oof_predictions.json",
        heldout=f"{R}/phase4/predictor/heldout_predictions.csv",
        schema=f"{R}/phase4/feature_schema.json",
        result=f"{R}/phase4/training_result.json",
    log:
        f"{R}/logs/train_predictor.log",
    benchmark:
        f"{R}/benchmarks/train_predictor.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        cfg=cfg_json("env", "predictor", "gates.strict"),
        out=lambda wildcards, output: os.path.dirname(output.result),
    shell:
        "python scripts/train_predictor.py --cfg {params.cfg:q} --snapshots {input} --model {output.model}"
        " --out-dir {params.out} --threads {threads} > {log} 2>&1"


ALL_TARGETS.extend(
    [
        f"{R}/phase4/predictor/model.pt",
        f"{R}/phase4/training_result.json",
        f"{R}/phase4/feature_schema.json",
    ]
)
