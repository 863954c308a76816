"""`teachable doctor`: the device a run would use, its dtype and free memory, the scoring token
budget (student.max_batch_tokens) it would resolve, and whether the configured student fits:
its parameter count from its config alone (the model is built on the meta device: no
weights are read) times the dtype's bytes, plus the prompt KV the rollout engine keeps."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..config import effective_config, parse_overrides
from ..io import InputError
from ..workflow.scripting import add

GIB = 2**30
# prompt tokens assumed per live episode where the student's tokenizer cannot be read
ASSUMED_PROMPT_TOKENS = 300


def register(sub) -> None:
    p = sub.add_parser("doctor", help="device, dtype, free memory, token budget; does the student fit?")
    add(p, "configfiles")
    add(p, "overrides")
    add(p, "student", default="results/student/base",
        help="the built bootstrap student (used when student.base_model is bootstrap)")
    p.add_argument("--memory-gib", type=float, default=None,
                   help="judge against this much free device memory instead of the device's own "
                        "(e.g. 24 for a card you plan to use)")
    add(p, "json", help="print JSON instead of text")
    p.set_defaults(func=run)


def _free_bytes(dev) -> tuple[int, int]:
    import torch

    if dev.type == "cuda":
        return torch.cuda.mem_get_info(dev)
    pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
    size = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 0
    return pages * size, os.sysconf("SC_PHYS_PAGES") * size if size else 0


def _student_config(path: str):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path)
    except Exception as e:  # noqa: BLE001 - not a checkpoint, no network for a hub id, ...
        raise InputError(f"student.base_model: cannot read the config of '{path}' "
                         f"({type(e).__name__}: {' '.join(str(e).split())[:200]})") from None


def _params(conf) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(conf)
    return sum(p.numel() for p in model.parameters())


def _prompt_tokens(cfg: dict, path: str) -> tuple[int, bool]:
    """Tokens of a first-step prompt of the configured env with the student's tokenizer
    (measured), else ASSUMED_PROMPT_TOKENS (assumed: False)."""
    try:
        from transformers import AutoTokenizer

        from ..envs import env_from_config
        from ..policy import encode_prompt, resolve_prompt_format
        from ..prompts import build_prompt, layout_of

        tok = AutoTokenizer.from_pretrained(path)
        env = env_from_config(cfg["env"], expert=False)
        obs = env.reset(cfg["seed"])
        fmt = resolve_prompt_format(tok, cfg["student"].get("prompt_format", "auto"))
        n = len(encode_prompt(tok, build_prompt(obs.mission, obs.text, [], "", layout_of(cfg["student"])), fmt))
        env.close()
        return n, True
    except Exception:  # noqa: BLE001 - the estimate then uses the assumed length
        return ASSUMED_PROMPT_TOKENS, False


def diagnose(cfg: dict, student: str, memory_gib: float | None = None) -> dict:
    import torch

    from ..policy import AUTO_MEMORY_SHARE, model_shape, pick_device, pick_dtype, resolve_student_path, token_bytes

    st = cfg["student"]
    dev = pick_device(st.get("device", "auto"))
    dtype = pick_dtype(dev, st.get("dtype", "auto"))
    elt = torch.empty((), dtype=dtype).element_size()
    free, total = _free_bytes(dev)
    if memory_gib is not None:
        free = total = int(memory_gib * GIB)
    path = student if st["base_model"] == "bootstrap" else resolve_student_path(st)
    out = {"device": str(dev), "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU",
           "torch": torch.__version__, "cuda_build": torch.version.cuda, "dtype": str(dtype).replace("torch.", ""),
           "free_gib": round(free / GIB, 2), "total_gib": round(total / GIB, 2),
           "memory_from": "--memory-gib" if memory_gib is not None else "device", "student": path}
    if st["base_model"] == "bootstrap" and not Path(path).exists():
        out["student_status"] = "bootstrap student not built yet (make pilot, or --student PATH)"
        return out
    conf = _student_config(path)
    shape = model_shape(conf)
    n = _params(conf)
    weights = n * elt
    per_tok = token_bytes(shape, elt)
    kv_tok = 2 * shape["layers"] * shape["kv_heads"] * shape["head_dim"] * elt
    p_tok, measured = _prompt_tokens(cfg, path)
    live = int(st.get("max_live_episodes", 256))
    kept = 2 * live * p_tok * kv_tok  # this step's and the last step's prompt KV of every live episode
    left = free - weights
    setting = st.get("max_batch_tokens", "auto")
    if setting == "auto":
        budget = max(1, int(AUTO_MEMORY_SHARE * left / per_tok)) if dev.type == "cuda" or memory_gib else None
    else:
        budget = int(setting)
    need_scoring = weights + kept + (budget or 0) * per_tok
    out.update({
        "params": n, "weights_gib": round(weights / GIB, 2), "shape": shape, "bytes_per_token": per_tok,
        "prompt_tokens": p_tok, "prompt_tokens_measured": measured, "max_live_episodes": live,
        "kept_kv_gib": round(kept / GIB, 2), "max_batch_tokens": setting, "token_budget": budget,
        "fits_weights": weights < free,
        "fits_scoring": bool(left > 0 and (budget is None or need_scoring <= free) and weights + kept < free),
    })
    return out


def run(args) -> int:
    cfg = effective_config(args.configfile, parse_overrides(args.config))
    d = diagnose(cfg, args.student, args.memory_gib)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print(f"device: {d['device']} ({d['device_name']}), torch {d['torch']}, CUDA build {d['cuda_build'] or 'none'}")
    print(f"dtype: {d['dtype']}")
    print(f"free memory: {d['free_gib']} GiB of {d['total_gib']} GiB ({d['memory_from']})")
    print(f"student: {d['student']}")
    if "student_status" in d:
        print(f"  {d['student_status']}")
        return 0
    s = d["shape"]
    print(f"  {d['params'] / 1e9:.3f}B parameters ({s['layers']} layers, hidden {s['hidden']}, {s['kv_heads']} KV "
          f"heads of {s['head_dim']}, vocab {s['vocab']}): weights {d['weights_gib']} GiB in {d['dtype']}")
    src = "measured on the env's first prompt" if d["prompt_tokens_measured"] else "assumed"
    print(f"  kept prompt KV: {d['max_live_episodes']} live episodes x {d['prompt_tokens']} tokens ({src}), two "
          f"steps: {d['kept_kv_gib']} GiB")
    b = d["token_budget"]
    print(f"token budget (student.max_batch_tokens {d['max_batch_tokens']}): "
          + (f"{b} tokens ({d['bytes_per_token']} bytes each, estimated)" if b is not None
             else "none (CPU: batches of student.batch_size prompts)"))
    verdict = "yes" if d["fits_scoring"] else ("no: the weights alone do not fit" if not d["fits_weights"]
                                                else "no: lower student.max_live_episodes or max_batch_tokens, "
                                                     "or use a smaller student / dtype")
    print(f"fits for scoring: {verdict}")
    print("training adds the LoRA optimizer state and one step's activations (training.gradient_checkpointing, "
          "training.grad_accum: docs/cluster.md#memory)")
    return 0
