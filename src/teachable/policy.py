"""The student policy: any Hugging Face causal LM (+ optional LoRA adapter) that scores
every valid action by its summed token log-probability given the prompt.

`score` runs one batched forward over all prompts and reuses each prompt's KV cache for
its candidate continuations, so a step of many episodes costs about one forward pass."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .io import InputError


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_model_and_tokenizer(model_path: str, adapter: str | None = None, device: str = "auto",
                             trainable_adapter: bool = False):
    """Load a causal LM from a local `save_pretrained` dir or a hub id (+ LoRA adapter)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = pick_device(device)
    local = Path(model_path)
    if not local.exists() and (model_path.startswith((".", "/")) or "results" in model_path):
        raise InputError(f"student.base_model: checkpoint '{model_path}' not found")
    try:
        tok = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=pick_dtype(dev))
    except Exception as e:  # noqa: BLE001 - OSError, or a truncated/corrupt weights file (safetensors)
        raise InputError(f"student.base_model: cannot load checkpoint '{model_path}'{_weights_file(local)} "
                         f"({type(e).__name__}: {' '.join(str(e).split())[:300]})") from None
    if adapter:
        from peft import PeftModel

        if not (Path(adapter) / "adapter_config.json").exists():
            raise InputError(f"adapter '{adapter}': no adapter_config.json (missing or unfinished checkpoint)")
        try:
            model = PeftModel.from_pretrained(model, adapter, is_trainable=trainable_adapter)
        except Exception as e:  # noqa: BLE001 - a truncated adapter_model.safetensors, a bad config
            raise InputError(f"adapter '{adapter}': cannot load the checkpoint{_weights_file(Path(adapter))} "
                             f"({type(e).__name__}: {' '.join(str(e).split())[:300]})") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return model.to(dev), tok


def _weights_file(d: Path) -> str:
    """' (weights: <file>)' naming the weights files of a local checkpoint dir, if any."""
    if not d.is_dir():
        return ""
    files = sorted(p.name for p in d.iterdir() if p.suffix in (".safetensors", ".bin"))
    return f" (weights: {', '.join(str(d / f) for f in files)})" if files else ""


class Policy:
    """pi(a|s) = softmax over valid actions of summed action-token log-probabilities."""

    def __init__(self, model, tokenizer, batch_size: int = 256):
        self.model = model.eval()
        self.tok = tokenizer
        self.tok.padding_side = "left"
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self._cand_cache: dict[str, list[int]] = {}

    @classmethod
    def load(cls, model_path: str, adapter: str | None = None, device: str = "auto", batch_size: int = 256):
        model, tok = load_model_and_tokenizer(model_path, adapter, device)
        return cls(model, tok, batch_size)

    def _cand_ids(self, action: str) -> list[int]:
        ids = self._cand_cache.get(action)
        if ids is None:
            ids = self.tok(" " + action, add_special_tokens=False)["input_ids"]
            if not ids:
                raise ValueError(f"action {action!r} tokenizes to nothing")
            self._cand_cache[action] = ids
        return ids

    @torch.no_grad()
    def score(self, prompts: list[str], candidates: list[list[str]]) -> list[np.ndarray]:
        """Summed log-prob of each candidate continuation of each prompt."""
        out: list[np.ndarray] = []
        for i in range(0, len(prompts), self.batch_size):
            out.extend(self._score_batch(prompts[i : i + self.batch_size], candidates[i : i + self.batch_size]))
        return out

    def _score_batch(self, prompts, candidates):
        enc = self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=True)
        ids = enc["input_ids"].to(self.device)
        mask = enc["attention_mask"].to(self.device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        res = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(res.logits[:, -1].float(), dim=-1)  # [B, V]

        # one row per (prompt, candidate); the first token is scored from the prompt's
        # last logits, the remaining ones from a short forward on the prompt's cache
        rows, toks = [], []
        for b, cands in enumerate(candidates):
            for a in cands:
                rows.append(b)
                toks.append(self._cand_ids(a))
        row_t = torch.tensor(rows, device=self.device)
        lp = first[row_t, torch.tensor([t[0] for t in toks], device=self.device)]
        rest = max(len(t) for t in toks) - 1
        if rest > 0:
            n = len(toks)
            cin = torch.full((n, rest), self.tok.pad_token_id, dtype=torch.long)
            ctg = torch.zeros((n, rest), dtype=torch.long)
            cm = torch.zeros((n, rest), dtype=torch.long)
            for j, t in enumerate(toks):
                k = len(t) - 1
                if k:
                    cin[j, :k] = torch.tensor(t[:-1])
                    ctg[j, :k] = torch.tensor(t[1:])
                    cm[j, :k] = 1
            cin, ctg, cm = cin.to(self.device), ctg.to(self.device), cm.to(self.device)
            cache = res.past_key_values
            cache.batch_select_indices(row_t)
            full_mask = torch.cat([mask[row_t], torch.ones_like(cm)], dim=1)
            cpos = pos[row_t, -1:] + 1 + torch.arange(rest, device=self.device)
            r2 = self.model(input_ids=cin, attention_mask=full_mask, position_ids=cpos, past_key_values=cache, use_cache=False)
            lps = torch.log_softmax(r2.logits.float(), dim=-1).gather(-1, ctg.unsqueeze(-1)).squeeze(-1)
            lp = lp + (lps * cm).sum(-1)
        lp = lp.cpu().numpy().astype(np.float64)
        out, j = [], 0
        for cands in candidates:
            out.append(lp[j : j + len(cands)])
            j += len(cands)
        return out

    @torch.no_grad()
    def score_unbatched(self, prompt: str, candidates: list[str]) -> np.ndarray:
        """Reference: one full forward per (prompt, candidate), no padding, no cache."""
        vals = []
        p_ids = self.tok(prompt, add_special_tokens=True)["input_ids"]
        for a in candidates:
            c_ids = self._cand_ids(a)
            ids = torch.tensor([p_ids + c_ids], device=self.device)
            logits = self.model(input_ids=ids).logits[0].float()
            lps = torch.log_softmax(logits[len(p_ids) - 1 : -1], dim=-1)
            vals.append(float(lps[torch.arange(len(c_ids)), torch.tensor(c_ids, device=self.device)].sum()))
        return np.array(vals)


def softmax(logp: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logp / max(temperature, 1e-8)
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()


def entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def resolve_student_path(student_cfg: dict, default_dir: str = "results/student/base") -> str:
    base = student_cfg.get("base_model", "bootstrap")
    return default_dir if base == "bootstrap" else os.path.expanduser(base)
