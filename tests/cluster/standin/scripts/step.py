"""Deterministic steps of the cluster-test stand-in workflow (stdlib only).

prepare:   shard i -> 64 pseudo-random numbers from random.Random(seed * 1000 + i)
train:     shard -> mean/min/max and a sha256 of the numbers (the "trained model")
summarize: runs -> one summary
--env-record PATH writes the job's SLURM/GPU environment (a log, not an output: it
differs between a local and a SLURM run, the outputs must not).
"""

import argparse
import hashlib
import json
import os
import random
import socket
from pathlib import Path

ENV_KEYS = ("SLURM_JOB_ID", "SLURM_JOB_PARTITION", "SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES",
            "SLURM_GPUS_ON_NODE", "SLURM_CPUS_PER_TASK", "SLURM_JOB_ACCOUNT")


def write_json(path: str, obj) -> None:
    """Write JSON atomically (temp file in the same directory, then rename)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("step", choices=["prepare", "train", "summarize"])
    ap.add_argument("--runs", nargs="+", default=[])
    ap.add_argument("--shard", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--input")
    ap.add_argument("--out", required=True)
    ap.add_argument("--env-record")
    a = ap.parse_args()

    if a.env_record:
        rec = {k: os.environ.get(k, "") for k in ENV_KEYS}
        rec["host"] = socket.gethostname()
        write_json(a.env_record, rec)

    if a.step == "prepare":
        rng = random.Random(a.seed * 1000 + a.shard)
        write_json(a.out, {"shard": a.shard, "x": [rng.random() for _ in range(64)]})
    elif a.step == "train":
        shard = json.loads(Path(a.input).read_text())
        x = shard["x"]
        digest = hashlib.sha256(json.dumps(x).encode()).hexdigest()
        write_json(a.out, {"shard": shard["shard"], "mean": sum(x) / len(x),
                           "min": min(x), "max": max(x), "sha256": digest})
    else:
        runs = [json.loads(Path(p).read_text()) for p in a.runs]
        write_json(a.out, {"n_runs": len(runs), "mean_of_means":
                           sum(r["mean"] for r in runs) / len(runs)})


if __name__ == "__main__":
    main()
