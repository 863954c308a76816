"""benchmarks/gpu_check.py's CPU mode (--cpu-tiny): every measurement runs on a tiny random-init
Qwen2 model and the JSON and markdown table are written. Timings are not asserted."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_cpu_tiny_writes_json_and_table(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks/gpu_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "gc.json"
    mod.main(["--cpu-tiny", "--config", str(ROOT / "tests/data/config_mock.yaml"), "--out", str(out), "--threads", "1"])
    res = json.loads(out.read_text())
    (m,) = res["models"]
    assert res["device"] == "cpu" and m["size"] == "tiny" and "error" not in m
    s = m["scoring"]
    assert s["steps"] > 0 and s["engine_steps_per_s"] > 0 and s["naive_steps_per_s"] > 0 and s["forward_steps_per_s"] > 0
    assert s["auto_budget"] is None  # CPU: no token limit
    assert [b["max_batch_tokens"] for b in m["budgets"]] == [256, "auto"]
    assert all(b["peak_gib"] is None for b in m["budgets"])  # memory is measured on CUDA only
    assert {(r["checkpointing"], r["kl_weight"]) for r in m["lora"]["steps"]} == {
        (False, 0.0), (False, 5.0), (True, 0.0), (True, 5.0)}
    assert m["largest"]["largest_prompts"] == 32 and m["lora"]["largest_micro_batch"] == 8  # the caps: no OOM on CPU
    md = out.with_suffix(".md").read_text()
    assert md.startswith("GPU check on CPU") and "| tiny |" in md
