"""The student policy: any Hugging Face causal LM (+ optional LoRA adapter) that scores
every valid action by its summed token log-probability given the prompt.

`score` runs one batched forward over all prompts, then one more over every multi-token
candidate's later tokens, packed per prompt on that prompt's KV cache (a 4D mask keeps the
candidates apart), so a step of many episodes costs about one forward pass."""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path

import numpy as np
import torch

from . import engine
from .action_dist import entropy, softmax  # noqa: F401  (re-exported: torch-free home)
from .engine import PrefixCache
from .io import InputError

_log = logging.getLogger(__name__)

# what a CUDA out-of-memory error is raised as (torch.OutOfMemoryError since 2.5; older:
# torch.cuda.OutOfMemoryError, the same class where both exist)
OOM_ERRORS = tuple({e for e in (getattr(torch, "OutOfMemoryError", None),
                                getattr(torch.cuda, "OutOfMemoryError", None)) if e is not None})


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def device_is_cuda(device) -> bool:
    return torch.device(device).type == "cuda"


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
PROMPT_FORMATS = ("raw", "chat", "auto")


def pick_dtype(device: torch.device, dtype: str = "auto") -> torch.dtype:
    """'auto': bfloat16 on a CUDA device that supports it, else float32; or a DTYPES name."""
    if dtype != "auto":
        if dtype not in DTYPES:
            raise InputError(f"student.dtype: unknown dtype {dtype!r} (known: auto, {', '.join(DTYPES)})")
        return DTYPES[dtype]
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def resolve_prompt_format(tok, prompt_format: str = "auto") -> str:
    """raw | chat; 'auto' is chat exactly when the tokenizer carries a chat template."""
    if prompt_format not in PROMPT_FORMATS:
        raise InputError(f"student.prompt_format: {prompt_format!r} is not one of {', '.join(PROMPT_FORMATS)}")
    has_template = bool(getattr(tok, "chat_template", None))
    if prompt_format == "chat" and not has_template:
        raise InputError("student.prompt_format: chat, but the student's tokenizer has no chat template")
    if prompt_format == "auto":
        return "chat" if has_template else "raw"
    return prompt_format


def prompt_format_of(tok) -> str:
    """The format a tokenizer was loaded with (load_model_and_tokenizer), else auto's."""
    return getattr(tok, "teachable_prompt_format", None) or resolve_prompt_format(tok, "auto")


def encode_prompt(tok, prompt: str, prompt_format: str | None = None) -> list[int]:
    """Prompt token ids: raw text (with the tokenizer's special tokens), or the user turn
    of the chat template followed by the assistant's generation prompt."""
    if (prompt_format or prompt_format_of(tok)) == "chat":
        text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                       add_generation_prompt=True)
        return tok(text, add_special_tokens=False)["input_ids"]
    return tok(prompt, add_special_tokens=True)["input_ids"]


def encode_action(tok, action: str, prompt_format: str | None = None) -> list[int]:
    """Action token ids: ' ' + action (raw), or the assistant's reply with the template's
    end-of-turn text (chat), so a command that is a prefix of another does not win by
    being shorter. Scoring and SFT both use this function."""
    if (prompt_format or prompt_format_of(tok)) == "chat":
        user = [{"role": "user", "content": "x"}]
        head = tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template(user + [{"role": "assistant", "content": action}], tokenize=False)
        if not full.startswith(head):
            raise InputError("student chat template: the assistant turn does not extend the generation prompt")
        ids = tok(full[len(head):].rstrip("\n"), add_special_tokens=False)["input_ids"]
    else:
        ids = tok(" " + action, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"action {action!r} tokenizes to nothing")
    return ids


def _cache_arg(model) -> str:
    """The forward argument carrying the KV cache: `cache` in current transformers
    (`past_key_values` is deprecated there), `past_key_values` in older releases."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def load_model_and_tokenizer(model_path: str, adapter: str | None = None, device: str = "auto",
                             trainable_adapter: bool = False, prompt_format: str = "auto", dtype: str = "auto"):
    """Load a causal LM from a local `save_pretrained` dir or a hub id (+ LoRA adapter).
    The resolved prompt format is kept on the tokenizer (`teachable_prompt_format`), so
    that scoring and SFT of this model apply the same template."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = pick_device(device)
    local = Path(model_path)
    if not local.exists() and (model_path.startswith((".", "/")) or "results" in model_path):
        raise InputError(f"student.base_model: checkpoint '{model_path}' not found")
    try:
        tok = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=pick_dtype(dev, dtype))
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
        if not trainable_adapter and next(model.parameters()).dtype == torch.float32:
            # acting only: fold the adapter into the weights (W + s*B*A). peft's unmerged
            # forward takes 1.15-1.2x as long (benchmarks/hot_paths.py); log-probs move by
            # ~1e-5. Half precision keeps the adapter apart (rounding).
            model = model.merge_and_unload()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    tok.teachable_prompt_format = resolve_prompt_format(tok, prompt_format)
    return model.to(dev), tok


def _weights_file(d: Path) -> str:
    """' (weights: <file>)' naming the weights files of a local checkpoint dir, if any."""
    if not d.is_dir():
        return ""
    files = sorted(p.name for p in d.iterdir() if p.suffix in (".safetensors", ".bin"))
    return f" (weights: {', '.join(str(d / f) for f in files)})" if files else ""


def model_shape(config) -> dict:
    """The sizes that set a causal LM's memory per token (Hugging Face config names; GPT-2's
    through its attribute map): layers, kv_heads, head_dim, hidden, intermediate, vocab."""
    hidden = int(config.hidden_size)
    heads = int(config.num_attention_heads)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    inter = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * hidden
    return {"layers": int(config.num_hidden_layers), "kv_heads": int(kv_heads), "head_dim": int(head_dim),
            "hidden": hidden, "intermediate": int(inter), "vocab": int(config.vocab_size)}


# share of the free device memory that 'auto' gives the scoring forwards; the rest is left
# for the episodes' kept prefix KV (PrefixCache), allocator fragmentation and the other
# live tensors. An estimate, not a measurement: an OOM still halves the batch.
AUTO_MEMORY_SHARE = 0.5
# candidate tokens per fed token assumed by 'auto' (their full-vocabulary logits dominate
# the candidate forward)
AUTO_CANDIDATE_SHARE = 0.25


def token_bytes(shape: dict, elt: int) -> int:
    """Estimated device bytes one token of a scoring forward holds: its keys and values in
    every layer, one layer's activations (hidden states, attention and MLP inputs), and a
    share of a candidate token's logits (model dtype, then float32 log-softmax)."""
    kv = 2 * shape["layers"] * shape["kv_heads"] * shape["head_dim"] * elt
    act = (4 * shape["hidden"] + 2 * shape["intermediate"]) * elt
    logits = shape["vocab"] * (elt + 8) * AUTO_CANDIDATE_SHARE
    return int(kv + act + logits)


def auto_token_budget(model, free_bytes: int | None = None) -> int | None:
    """student.max_batch_tokens 'auto': on CUDA, AUTO_MEMORY_SHARE of the free device memory
    (torch.cuda.mem_get_info, after the weights are loaded) over token_bytes; on any other
    device None (no token limit: batches of student.batch_size prompts, the behaviour
    before the budget existed) unless `free_bytes` is given."""
    p = next(model.parameters())
    if free_bytes is None:
        if p.device.type != "cuda":
            return None
        free_bytes = torch.cuda.mem_get_info(p.device)[0]
    return max(1, int(AUTO_MEMORY_SHARE * free_bytes / token_bytes(model_shape(model.config), p.element_size())))


def resolve_token_budget(model, value) -> int | None:
    """student.max_batch_tokens: a positive int, 'auto' (auto_token_budget) or None (no limit)."""
    if value is None:
        return None
    if value == "auto":
        return auto_token_budget(model)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"student.max_batch_tokens: {value!r} is not a positive integer or 'auto'")
    return value


# Prefix reuse (Policy.score with a PrefixCache): fewer common leading tokens than this are
# re-encoded rather than copied from the last step's KV.
REUSE_MIN_TOKENS = 16


class _PromptKV:
    """The KV of one scored prompt: its token ids, and where its keys/values sit in the
    batch tensors of that forward (row `row`, columns from `start`; left padding before)."""

    __slots__ = ("ids", "layers", "row", "start")

    def __init__(self, ids: tuple, layers: list, row: int, start: int):
        self.ids, self.layers, self.row, self.start = ids, layers, row, start


def _common_prefix(a, b) -> int:
    """Length of the common leading run of two token-id sequences, at most len(b) - 1 (the
    last prompt token is always fed, its logits score the first candidate token)."""
    n = min(len(a), len(b) - 1)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _split_by_length(rows: list[int], need: list[int], min_rows: int = 4, min_saving: float = 0.2) -> list[list[int]]:
    """`rows` in groups of similar input length `need` (sorted, cut where one cut saves at
    least `min_saving` of the padded tokens, recursively): a batch forward pads every row
    to its longest. Groups of fewer than `min_rows` rows are not split further."""
    if not rows:
        return []
    order = sorted(range(len(rows)), key=lambda i: need[i])
    lengths = [need[i] for i in order]
    n = len(order)
    best, cut = n * lengths[-1], None
    for k in range(min_rows, n - min_rows + 1):
        cost = k * lengths[k - 1] + (n - k) * lengths[-1]
        if cost < best:
            best, cut = cost, k
    if cut is None or best > (1 - min_saving) * n * lengths[-1]:
        return [[rows[i] for i in order]]
    lo, hi = order[:cut], order[cut:]
    return (_split_by_length([rows[i] for i in lo], [need[i] for i in lo], min_rows, min_saving)
            + _split_by_length([rows[i] for i in hi], [need[i] for i in hi], min_rows, min_saving))


def _gather_prefix_kv(parents: list, lengths: list[int], width: int, start: int, config):
    """A DynamicCache of `start` columns holding, right-aligned per row like the left-padded
    prompts, the first (length - (width - start)) tokens of each row's prompt, copied from
    its parent's KV (those tokens are the common prefix, so their keys and values are the
    parent's exactly: same tokens at the same positions)."""
    from transformers import DynamicCache

    kv = []
    ref_k, ref_v = parents[0].layers[0]
    for li in range(len(parents[0].layers)):
        k = ref_k.new_zeros((len(parents), ref_k.shape[1], start, ref_k.shape[3]))
        v = ref_v.new_zeros((len(parents), ref_v.shape[1], start, ref_v.shape[3]))
        for b, (par, n) in enumerate(zip(parents, lengths)):
            c = n - (width - start)  # this row's tokens in the cached columns
            if c > 0:
                pk, pv = par.layers[li]
                k[b, :, start - c :] = pk[par.row, :, par.start : par.start + c]
                v[b, :, start - c :] = pv[par.row, :, par.start : par.start + c]
        kv.append((k, v))
    return DynamicCache(ddp_cache_data=kv, config=config)


class Policy:
    """pi(a|s) = softmax over valid actions of summed action-token log-probabilities."""

    reuses_prefixes = True  # score() takes an engine.PrefixCache (the engine passes one)

    def __init__(self, model, tokenizer, batch_size: int = 256, prompt_format: str | None = None,
                 max_batch_tokens: int | str | None = "default"):
        self.model = model.eval()
        self.tok = tokenizer
        self.tok.padding_side = "left"
        self.batch_size = batch_size
        if max_batch_tokens == "default":  # student.max_batch_tokens, as scripting.setup set it
            max_batch_tokens = engine.MAX_BATCH_TOKENS
        # tokens one forward may hold (None: no limit); halved where a CUDA OOM shows it too large
        self.max_batch_tokens = resolve_token_budget(model, max_batch_tokens)
        self.oom_halvings = 0  # batches split after a CUDA out-of-memory error
        self.device = next(model.parameters()).device
        self.prompt_format = resolve_prompt_format(tokenizer, prompt_format) if prompt_format else prompt_format_of(tokenizer)
        self._cache_arg = _cache_arg(model)
        self._cand_cache: dict[str, list[int]] = {}
        self._prompt_cache: dict[str, list[int]] = {}
        # real prompt tokens fed to the model, and those whose KV was copied (PrefixCache)
        self.prompt_tokens = {"encoded": 0, "reused": 0}
        # a sliding-window layer keeps only the window's KV: no prefix can be reused there
        types = getattr(getattr(model, "config", None), "layer_types", None) or []
        self._reuse_ok = not any("sliding" in str(t) for t in types)

    @classmethod
    def load(cls, model_path: str, adapter: str | None = None, device: str = "auto", batch_size: int = 256,
             prompt_format: str = "auto", dtype: str = "auto", max_batch_tokens: int | str | None = "default"):
        model, tok = load_model_and_tokenizer(model_path, adapter, device, prompt_format=prompt_format, dtype=dtype)
        return cls(model, tok, batch_size, max_batch_tokens=max_batch_tokens)

    def _cand_ids(self, action: str) -> list[int]:
        ids = self._cand_cache.get(action)
        if ids is None:
            ids = self._cand_cache[action] = encode_action(self.tok, action, self.prompt_format)
        return ids

    def _prompt_ids(self, prompt: str) -> list[int]:
        ids = self._prompt_cache.get(prompt)
        if ids is None:
            if len(self._prompt_cache) > 4096:  # prompts rarely repeat across steps; bound the memory
                self._prompt_cache.clear()
            ids = self._prompt_cache[prompt] = encode_prompt(self.tok, prompt, self.prompt_format)
        return ids

    @torch.no_grad()
    def score(self, prompts: list[str], candidates: list[list[str]], reuse: PrefixCache | None = None,
              owners: list[list] | None = None) -> list[np.ndarray]:
        """Summed log-prob of each candidate continuation of each prompt.

        With a PrefixCache `reuse` and, per prompt, the `owners` (episodes) it belongs to, a
        prompt re-encodes only its tokens after the longest common prefix with its owner's
        prompt of the previous call (the KV of that prefix is taken from the cache), and
        its own KV is kept for the next call. Scores do not depend on it (tests)."""
        parents: list = [None] * len(prompts)
        if reuse is not None and owners is not None and self._reuse_ok:
            parents = [reuse.parent(o) for o in owners]
        out: list[np.ndarray] = []
        kept: list = []
        for i in range(0, len(prompts), self.batch_size):
            sl = slice(i, i + self.batch_size)
            scores, handles = self._score_batch(prompts[sl], candidates[sl], parents[sl])
            out.extend(scores)
            kept.extend(handles)
        if reuse is not None and owners is not None:
            reuse.keep(owners, kept if self._reuse_ok else [None] * len(prompts))
        return out

    def _score_batch(self, prompts, candidates, parents):
        """Scores of one batch, and each prompt's KV handle (_PromptKV) for the next step.
        Prompts whose parent shares at least REUSE_MIN_TOKENS leading tokens go through one
        forward on the parents' KV; the others through one plain forward."""
        p_ids = [self._prompt_ids(p) for p in prompts]
        common = [_common_prefix(par.ids, ids) if par is not None else 0 for par, ids in zip(parents, p_ids)]
        reused = [b for b, c in enumerate(common) if c >= REUSE_MIN_TOKENS]
        fresh = [b for b, c in enumerate(common) if c < REUSE_MIN_TOKENS]
        # each forward is as wide as its longest input: rows of similar input lengths go
        # together (a reused row's input is the part after its common prefix)
        groups = [(g, False) for g in _split_by_length(fresh, [len(p_ids[b]) for b in fresh])]
        groups += [(g, True) for g in _split_by_length(reused, [len(p_ids[b]) - common[b] for b in reused])]
        out: list = [None] * len(p_ids)
        handles: list = [None] * len(p_ids)
        later = [sum(len(self._cand_ids(a)) - 1 for a in cands) for cands in candidates]
        for members, is_reused in groups:
            for chunk in self._token_chunks(members, [len(p) for p in p_ids], later):
                self._score_chunk(chunk, p_ids, candidates, parents, common, is_reused, later, out, handles)
        return out, handles

    @staticmethod
    def _chunk_tokens(members, lengths, later) -> int:
        """Tokens a forward over these prompts holds: every row padded to the longest prompt,
        one more copy of that width per prompt with multi-token candidates (its packed
        candidate row on a copy of its KV) and the candidates' later tokens."""
        width = max(lengths[b] for b in members)
        return sum(width * (1 + (later[b] > 0)) + later[b] for b in members)

    def _token_chunks(self, members, lengths, later) -> list[list[int]]:
        """`members` (sorted by length) in consecutive runs that fit max_batch_tokens (a prompt
        alone always makes a run); one run when there is no budget."""
        if self.max_batch_tokens is None or len(members) < 2:
            return [members]
        chunks, cur = [], []
        for b in members:
            if cur and self._chunk_tokens(cur + [b], lengths, later) > self.max_batch_tokens:
                chunks.append(cur)
                cur = []
            cur.append(b)
        return chunks + [cur]

    def _score_chunk(self, members, p_ids, candidates, parents, common, is_reused, later, out, handles):
        """Score one run of prompts into out/handles; on a CUDA out-of-memory error, score
        its two halves instead (and lower max_batch_tokens for the batches after it), down
        to one prompt, which re-raises."""
        sub = [p_ids[b] for b in members]
        reuse = ([parents[b] for b in members], [common[b] for b in members]) if is_reused else None
        try:
            scores, hs = self._score_group(sub, [candidates[b] for b in members], reuse)
            for b, sc, h in zip(members, scores, hs):
                out[b], handles[b] = sc, h
            return
        except OOM_ERRORS as e:
            tokens = self._chunk_tokens(members, [len(p) for p in p_ids], later)
            if len(members) == 1:
                raise type(e)(
                    f"CUDA out of memory scoring ONE prompt ({len(sub[0])} prompt tokens, "
                    f"{len(candidates[members[0]])} candidates, {tokens} tokens in all): the student does not fit "
                    f"beside what this job holds; try a smaller student or student.dtype, or fewer "
                    f"student.max_live_episodes (each live episode keeps its prompt's KV). {e}") from None
        # outside the except block, so that the failed forward's tensors are freed first
        if device_is_cuda(self.device):
            torch.cuda.empty_cache()
        self.max_batch_tokens = max(1, min(self.max_batch_tokens or tokens, tokens) // 2)
        if not self.oom_halvings:
            _log.warning(f"CUDA out of memory scoring {len(members)} prompts ({tokens} tokens): halving the batch "
                         f"and retrying; student.max_batch_tokens is {self.max_batch_tokens} from here on "
                         f"(logged once)")
        self.oom_halvings += 1
        half = len(members) // 2
        for part in (members[:half], members[half:]):
            self._score_chunk(part, p_ids, candidates, parents, common, is_reused, later, out, handles)

    def _score_group(self, p_ids, candidates, reuse=None):
        """Scores and KV handles of prompts in one forward; `reuse` = (parents, common prefix
        lengths): the prompts' leading columns come from the parents' KV."""
        width = max(len(p) for p in p_ids)
        ids = torch.full((len(p_ids), width), self.tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(p_ids), width), dtype=torch.long)
        for b, p in enumerate(p_ids):  # left padding: every prompt ends at the last column
            ids[b, width - len(p):] = torch.tensor(p)
            mask[b, width - len(p):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        kw = {}
        start = 0  # first column that is fed to the model; the columns before come from parents' KV
        if reuse is not None:
            parents, common = reuse
            start = width - max(len(p) - c for p, c in zip(p_ids, common))
            if start < REUSE_MIN_TOKENS:  # too little left to copy: encode these prompts whole
                start = 0
            else:
                kw[self._cache_arg] = _gather_prefix_kv(parents, [len(p) for p in p_ids], width, start,
                                                        self.model.config)
        n_reused = sum(max(0, len(p) - (width - start)) for p in p_ids) if start else 0
        res = self.model(input_ids=ids[:, start:], attention_mask=mask, position_ids=pos[:, start:], use_cache=True,
                         logits_to_keep=1, **kw)
        first = torch.log_softmax(res.logits[:, -1].float(), dim=-1)  # [B, V]
        cache = getattr(res, "cache", None) or res.past_key_values
        # this step's KV of every prompt, taken before the candidate forward reorders the cache
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        handles = [_PromptKV(tuple(p), layers, b, width - len(p)) for b, p in enumerate(p_ids)]

        # one entry per (prompt, candidate); the first token is scored from the prompt's last
        # logits, the later ones by one more forward on the prompts' cache (_score_later_tokens)
        rows, toks = [], []
        for b, cands in enumerate(candidates):
            for a in cands:
                rows.append(b)
                toks.append(self._cand_ids(a))
        row_t = torch.tensor(rows, device=self.device)
        lp = first[row_t, torch.tensor([t[0] for t in toks], device=self.device)]
        if any(len(t) > 1 for t in toks):
            lp = lp + self._score_later_tokens(cache, mask, pos[:, -1], rows, toks)
        lp = lp.cpu().numpy().astype(np.float64)
        self.prompt_tokens["reused"] += n_reused  # counted once the forwards went through (OOM retries)
        self.prompt_tokens["encoded"] += sum(len(p) for p in p_ids) - n_reused
        out, j = [], 0
        for cands in candidates:
            out.append(lp[j : j + len(cands)])
            j += len(cands)
        return out, handles

    def _score_later_tokens(self, cache, mask, last_pos, rows, toks) -> torch.Tensor:
        """Summed log-probs of every candidate's tokens after its first, in ONE forward over the
        prompts' cache, packed: each packed row holds the inputs of several multi-token
        candidates of one prompt one after another, on a copy of that prompt's cache row, and
        a 4D mask lets each candidate token see the prompt and the earlier tokens of its own
        candidate only (tree attention). Positions restart after the prompt for each
        candidate, so each scores exactly as if alone (tests compare with score_unbatched).

        A prompt whose candidates hold more tokens than the typical prompt's (e.g. 30
        admissible commands) spreads them over several packed rows, so that one such prompt
        does not pad every row to its length; prompts whose candidates are all one token get
        no row. The prompt cache is copied once per packed row, never per candidate."""
        n_rows, width = mask.shape
        by_prompt: list[list[int]] = [[] for _ in range(n_rows)]
        for j, (b, t) in enumerate(zip(rows, toks)):
            if len(t) > 1:
                by_prompt[b].append(j)
        loads = [sum(len(toks[j]) - 1 for j in js) for js in by_prompt if js]
        cap = max(max(len(t) - 1 for t in toks), -(-sum(loads) // len(loads)))  # >= the mean load
        packed: list[tuple[int, list[int]]] = []  # (prompt row, candidates)
        for b, js in enumerate(by_prompt):
            cur, used = [], 0
            for j in js:
                if cur and used + len(toks[j]) - 1 > cap:
                    packed.append((b, cur))
                    cur, used = [], 0
                cur.append(j)
                used += len(toks[j]) - 1
            if cur:
                packed.append((b, cur))
        src = [b for b, _ in packed]
        if src != list(range(n_rows)):
            cache.batch_select_indices(torch.tensor(src, device=self.device))
            mask, last_pos = mask[src], last_pos[src]
        seg_rows, inp, tgt, off = [], [], [], []  # per packed row: candidate index, input, target, offset
        for _, js in packed:
            seg_rows.append([j for j in js for _ in toks[j][1:]])
            inp.append([x for j in js for x in toks[j][:-1]])
            tgt.append([x for j in js for x in toks[j][1:]])
            off.append([i for j in js for i in range(len(toks[j]) - 1)])
        span = max(len(x) for x in inp)

        def pad(lists, fill):
            return torch.tensor([x + [fill] * (span - len(x)) for x in lists], dtype=torch.long, device=self.device)

        seg, cin, ctg, cpos = pad(seg_rows, -1), pad(inp, self.tok.pad_token_id), pad(tgt, 0), pad(off, 0)
        cpos = last_pos[:, None] + 1 + cpos
        # query token i of a packed row sees: the row's prompt (its real, unpadded tokens), and
        # packed token k <= i of the same candidate; padding queries see the prompt (unused)
        own = (seg[:, :, None] == seg[:, None, :]) & (seg[:, :, None] >= 0)
        own &= torch.ones(span, span, dtype=torch.bool, device=self.device).tril()
        see = torch.cat([mask.bool()[:, None, :].expand(len(packed), span, width), own], dim=2)[:, None]
        dtype = next(self.model.parameters()).dtype
        add = torch.zeros(see.shape, dtype=dtype, device=self.device).masked_fill(~see, torch.finfo(dtype).min)
        out = self.model(input_ids=cin, attention_mask=add, position_ids=cpos, use_cache=False,
                         **{self._cache_arg: cache})
        lps = torch.log_softmax(out.logits.float(), dim=-1).gather(-1, ctg.unsqueeze(-1)).squeeze(-1)
        real = seg >= 0
        return torch.zeros(len(toks), device=self.device).index_add_(0, seg[real], lps[real])

    @torch.no_grad()
    def score_unbatched(self, prompt: str, candidates: list[str]) -> np.ndarray:
        """Reference: one full forward per (prompt, candidate), no padding, no cache."""
        vals = []
        p_ids = encode_prompt(self.tok, prompt, self.prompt_format)
        for a in candidates:
            c_ids = self._cand_ids(a)
            ids = torch.tensor([p_ids + c_ids], device=self.device)
            logits = self.model(input_ids=ids).logits[0].float()
            lps = torch.log_softmax(logits[len(p_ids) - 1 : -1], dim=-1)
            vals.append(float(lps[torch.arange(len(c_ids)), torch.tensor(c_ids, device=self.device)].sum()))
        return np.array(vals)


def resolve_student_path(student_cfg: dict, default_dir: str = "results/student/base") -> str:
    base = student_cfg.get("base_model", "bootstrap")
    return default_dir if base == "bootstrap" else os.path.expanduser(base)
