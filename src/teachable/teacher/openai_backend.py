"""Teacher over any OpenAI-compatible chat-completions server (`teacher.backend: openai`),
with the official `openai` client (its own retries off: this module retries and counts).

Structured output: a strict JSON schema whose `suggested_action` is an enum of ALL valid
actions. One request makes at most 1 + max_retries calls:
  - 408/409/429/5xx, timeouts, connection errors: retried after an exponential backoff
    with jitter (backoff_s * 2^i * U(0.5, 1), or the server's Retry-After if longer; at most
    max_backoff_s), so parallel shards hitting one server do not retry in lock-step;
  - a 400 saying the model takes `max_completion_tokens` instead of `max_tokens` (newer
    OpenAI models): asked again at once with that parameter, kept for the rest of the job;
  - other HTTP errors (400, 401, 403, 404, 422...): TeacherError at once (retrying cannot help);
  - an answer that is not JSON of the schema, or whose suggested_action is not a valid
    action: asked again at once, with the rejected answer and a correction in the
    conversation.
Strict on the action, tolerant on the envelope (servers that ignore the JSON schema): a JSON
object inside a ``` fence or surrounded by prose, a confidence given as a word ("high") or a
numeric string, and a near-miss error_type ("planning error", "Planning_Error") are accepted,
with a `repaired_*` flag on the advice naming each repair (counted in teacher_usage.json).
suggested_action is never repaired: it must equal one of the valid actions.
When the calls run out: if no answer came back at all, TeacherError (the stage stops; the
cache keeps every earlier answer, so a rerun pays only for the rest); otherwise the last
answer is returned FLAGGED (valid=False, flags ["invalid_action"] or ["malformed_json"]),
never replaced by another action.

The API key comes from the environment variable `api_key_env` or a `KEY=value` line of the
`.env` file; it is handed to the client only, and scrubbed from every message this module
builds."""

from __future__ import annotations

import difflib
import json
import os
import random
import re
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..io import InputError
from .base import ERROR_TYPES, TeacherAdvice, TeacherError, TeacherRequest

PROMPT_VERSION = 1  # bump when the prompt or schema changes meaning (part of the cache key)
RETRY_STATUS = {408, 409, 429}  # and every 5xx
FIELDS = ("suggested_action", "rationale", "diagnosis", "error_type", "confidence")
# words for confidence that loose servers write instead of a number
CONFIDENCE_WORDS = {"very high": 0.95, "high": 0.85, "medium": 0.6, "moderate": 0.6, "low": 0.3,
                    "very low": 0.1, "certain": 1.0, "uncertain": 0.3}
_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.S)

SYSTEM = (
    "You are a teacher for a student agent that acts in a grid world from text observations. "
    "You see the student's mission, its current observation, the actions that are valid now, "
    "and the action the student is about to take. Answer with a JSON object:\n"
    "- suggested_action: the single best next action, exactly one of the valid actions;\n"
    "- rationale: one sentence on why that action is best;\n"
    "- diagnosis: 1-2 short sentences addressed to the student, naming the current subgoal or "
    "object and what is wrong with its action (if its action is already best, say so); do not "
    "just repeat the action name;\n"
    "- error_type: affordance_miss (interacts with the wrong thing, or misses an interaction "
    "that is possible now), attribute_confusion (mixes up colours or object types), "
    "planning_error (wrong direction, walking into walls, turning in circles), "
    "exploration_failure (the goal is not in view and the student does not explore), or "
    "unknown;\n"
    "- confidence: a number from 0 to 1, how sure you are that suggested_action is best."
)


def read_api_key(env_var: str, dotenv: str | Path = ".env") -> str | None:
    """The key from the environment, else from a `KEY=value` (or `export KEY=value`) line of
    the dotenv file (quotes and a trailing ` # comment` of unquoted values removed)."""
    if os.environ.get(env_var, "").strip():
        return os.environ[env_var].strip()
    p = Path(dotenv)
    if not p.is_file():
        return None
    for line in p.read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, sep, value = line.partition("=")
        if not sep or name.strip() != env_var:
            continue
        value = value.strip()
        if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) >= 2:
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        return value or None
    return None


def response_schema(valid_actions: list[str]) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(FIELDS),
        "properties": {
            "suggested_action": {"type": "string", "enum": list(valid_actions)},
            "rationale": {"type": "string"},
            "diagnosis": {"type": "string"},
            "error_type": {"type": "string", "enum": list(ERROR_TYPES)},
            "confidence": {"type": "number"},
        },
    }


def response_format(valid_actions: list[str]) -> dict:
    return {"type": "json_schema",
            "json_schema": {"name": "teacher_advice", "strict": True, "schema": response_schema(valid_actions)}}


def build_messages(req: TeacherRequest) -> list[dict]:
    user = (f"Mission: {req.mission}\n"
            f"Observation: {req.obs_text}\n"
            f"Valid actions: {', '.join(req.valid_actions)}\n"
            f"Student's action: {req.student_action}")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def safe_url(url: str | None) -> str:
    """The base URL without user:password, query or fragment (for messages)."""
    if not url:
        return "the client's default endpoint"
    u = urlsplit(url)
    host = u.hostname or ""
    if u.port:
        host += f":{u.port}"
    return urlunsplit((u.scheme, host, u.path, "", ""))


class OpenAITeacher:
    name = "openai"
    uses_cache = True

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.model = cfg["model"]
        self._client = None
        self._key: str | None = None
        self._rng = random.Random()  # backoff jitter only (never touches an artifact)
        self._token_param = "max_tokens"  # becomes max_completion_tokens if the server asks

    def __repr__(self) -> str:  # never show the key
        return f"OpenAITeacher(model={self.model!r}, base_url={safe_url(self.cfg.get('base_url'))!r})"

    def check_ready(self) -> None:
        """Raise InputError at once when no API key is set (call before any work)."""
        env, dotenv = self.cfg["api_key_env"], self.cfg["dotenv_path"]
        if not read_api_key(env, dotenv):
            raise InputError(
                f"teacher.backend is 'openai' but no API key was found: set the environment variable "
                f"{env} (or add a line {env}=... to {Path(dotenv).resolve()}). For a local server that "
                f"needs no key (vLLM, Ollama) set {env}=EMPTY.")

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text

    @property
    def client(self):
        if self._client is None:
            import openai

            self.check_ready()
            self._key = read_api_key(self.cfg["api_key_env"], self.cfg["dotenv_path"])
            self._client = openai.OpenAI(api_key=self._key, base_url=self.cfg.get("base_url"),
                                         timeout=self.cfg["timeout_s"], max_retries=0)
        return self._client

    def cache_fields(self, req: TeacherRequest) -> tuple[list[dict], dict]:
        """(prompt, params) of the cache key: everything that shapes the answer."""
        return build_messages(req), {
            "temperature": self.cfg["temperature"], "max_tokens": self.cfg["max_tokens"],
            "response_format": response_format(req.valid_actions), "base_url": self.cfg.get("base_url") or "",
            "prompt_version": PROMPT_VERSION}

    def _sleep(self, n_failed: int, retry_after: float | None) -> None:
        wait = self.cfg["backoff_s"] * 2 ** max(0, n_failed - 1) * self._rng.uniform(0.5, 1.0)
        if retry_after is not None:
            wait = max(wait, retry_after)
        time.sleep(min(wait, self.cfg["max_backoff_s"]))

    def _parse(self, content: str | None, req: TeacherRequest) -> tuple[TeacherAdvice | None, str]:
        """(advice, problem): problem is '' (valid), 'malformed_json' or 'invalid_action'."""
        data, flags = _load_envelope(content or "")
        if (not isinstance(data, dict) or any(k not in data for k in FIELDS)
                or not isinstance(data["suggested_action"], str) or not isinstance(data["diagnosis"], str)
                or not data["diagnosis"].strip()):
            return None, "malformed_json"
        conf, conf_flag = _confidence(data["confidence"])
        if conf is None:
            return None, "malformed_json"
        flags += conf_flag
        etype, etype_flag = _error_type(data["error_type"])
        flags += etype_flag
        if not 0.0 <= conf <= 1.0:
            conf, flags = min(1.0, max(0.0, conf)), flags + ["confidence_clipped"]
        adv = TeacherAdvice(suggested_action=self._scrub(data["suggested_action"]),
                            rationale=self._scrub(str(data["rationale"])),
                            diagnosis=self._scrub(data["diagnosis"].strip()), error_type=etype, confidence=conf,
                            backend=self.name, model=self.model, flags=flags)
        return adv, "" if adv.suggested_action in req.valid_actions else "invalid_action"

    def _create(self, client, messages, fmt, stats):
        """One call; a 400 that asks for max_completion_tokens switches the parameter."""
        import openai

        try:
            return client.chat.completions.create(
                model=self.model, messages=messages, temperature=self.cfg["temperature"],
                response_format=fmt, **{self._token_param: self.cfg["max_tokens"]})
        except openai.BadRequestError as e:
            text = str(getattr(e, "message", "") or e)
            if self._token_param != "max_tokens" or "max_completion_tokens" not in text:
                raise
        self._token_param = "max_completion_tokens"
        stats["calls"] += 1
        stats["param_switches"] = stats.get("param_switches", 0) + 1
        return client.chat.completions.create(
            model=self.model, messages=messages, temperature=self.cfg["temperature"],
            response_format=fmt, max_completion_tokens=self.cfg["max_tokens"])

    def answer(self, req: TeacherRequest) -> tuple[TeacherAdvice, dict]:
        import openai

        client = self.client
        messages = build_messages(req)
        fmt = response_format(req.valid_actions)
        stats = {"calls": 0, "retries": 0, "errors": 0, "invalid_answers": 0, "malformed_answers": 0,
                 "tokens_in": 0, "tokens_out": 0}
        tries = self.cfg["max_retries"] + 1
        n_failed, last_error, last = 0, "", None  # last: (problem, advice or None, raw content)
        where = f"teacher 'openai' (model {self.model}, {safe_url(self.cfg.get('base_url'))})"
        for attempt in range(tries):
            if attempt:
                stats["retries"] += 1
            stats["calls"] += 1
            try:
                resp = self._create(client, messages, fmt, stats)
            except (openai.APIStatusError, openai.APIConnectionError) as e:
                status = getattr(e, "status_code", None)
                detail = self._scrub(str(getattr(e, "message", "") or ""))[:300]
                last_error = f"HTTP {status} {type(e).__name__}: {detail}" if status else type(e).__name__
                if status is not None and status not in RETRY_STATUS and status < 500:
                    stats["errors"] += 1
                    hint = f" (check the key in {self.cfg['api_key_env']})" if status in (401, 403) else ""
                    raise TeacherError(f"{where}: snapshot {req.snapshot_id!r}: {last_error}{hint}", stats) from None
                stats["errors"] += 1
                n_failed += 1
                if attempt + 1 < tries:
                    self._sleep(n_failed, _retry_after(e))
                continue
            if resp.usage is not None:
                stats["tokens_in"] += resp.usage.prompt_tokens or 0
                stats["tokens_out"] += resp.usage.completion_tokens or 0
            msg = resp.choices[0].message if resp.choices else None
            content = getattr(msg, "content", None)
            advice, problem = (None, "malformed_json") if getattr(msg, "refusal", None) else self._parse(content, req)
            if not problem:
                advice.retries = attempt
                repaired = [f for f in advice.flags if f.startswith("repaired_")]
                if repaired:
                    stats["repaired_answers"] = 1
                    for f in repaired:
                        stats[f] = 1
                return advice, stats
            stats["invalid_answers" if problem == "invalid_action" else "malformed_answers"] += 1
            last = (problem, advice, content or "")
            messages = messages + [{"role": "assistant", "content": (content or "")[:2000]},
                                   {"role": "user", "content": _correction(problem, advice, req)}]
        if last is None:
            raise TeacherError(f"{where}: no answer for snapshot {req.snapshot_id!r} after {stats['calls']} "
                               f"calls (max_retries={self.cfg['max_retries']}); last error: {last_error}", stats)
        problem, advice, raw = last
        if advice is None:  # malformed: nothing to suggest
            advice = TeacherAdvice(suggested_action="", rationale=f"malformed answer: {self._scrub(raw)[:300]}",
                                   diagnosis="", error_type="unknown", confidence=0.0,
                                   backend=self.name, model=self.model)
        advice.valid, advice.flags, advice.retries = False, [problem, *advice.flags], tries - 1
        return advice, stats


def _load_envelope(content: str) -> tuple[object, list[str]]:
    """The JSON object of an answer and the repair flags: as is, else inside a ``` fence,
    else the outermost {...} in surrounding prose. None when there is none."""
    text = content.strip()
    try:
        return json.loads(text), []
    except json.JSONDecodeError:
        pass
    m = _FENCE.search(text)
    if m:
        try:
            return json.loads(m.group(1).strip()), ["repaired_fenced_json"]
        except json.JSONDecodeError:
            pass
    i, j = text.find("{"), text.rfind("}")
    if 0 <= i < j:
        try:
            return json.loads(text[i:j + 1]), ["repaired_surrounding_text"]
        except json.JSONDecodeError:
            pass
    return None, []


def _confidence(value) -> tuple[float | None, list[str]]:
    if isinstance(value, bool):
        return None, []
    if isinstance(value, (int, float)):
        return float(value), []
    if isinstance(value, str):
        word = " ".join(value.strip().lower().replace("_", " ").split())
        if word in CONFIDENCE_WORDS:
            return CONFIDENCE_WORDS[word], ["repaired_confidence_word"]
        try:
            v = float(word.rstrip("%")) / (100.0 if word.endswith("%") else 1.0)
            return v, ["repaired_confidence_string"]
        except ValueError:
            return None, []
    return None, []


def _error_type(value) -> tuple[str, list[str]]:
    if value in ERROR_TYPES:
        return value, []
    if isinstance(value, str):
        norm = re.sub(r"[\s\-]+", "_", value.strip().lower())
        if norm in ERROR_TYPES:
            return norm, ["repaired_error_type"]
        close = difflib.get_close_matches(norm, ERROR_TYPES, n=1, cutoff=0.85)
        if close:
            return close[0], ["repaired_error_type"]
    return "unknown", ["error_type_out_of_set"]


def _retry_after(e) -> float | None:
    resp = getattr(e, "response", None)
    if resp is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        v = resp.headers.get(name)
        if v is None:
            continue
        try:
            return max(0.0, float(v) * scale)
        except ValueError:  # an HTTP date: fall back to our own backoff
            continue
    return None


def _correction(problem: str, advice: TeacherAdvice | None, req: TeacherRequest) -> str:
    if problem == "invalid_action":
        return (f"{advice.suggested_action!r} is not one of the valid actions. Answer again; suggested_action "
                f"must be exactly one of: {', '.join(req.valid_actions)}.")
    return ("That answer was not a JSON object with the keys " + ", ".join(FIELDS)
            + " (and a non-empty diagnosis). Answer again with only that JSON object.")
