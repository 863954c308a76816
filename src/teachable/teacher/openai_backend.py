"""Teacher over any OpenAI-compatible chat-completions server, with the official client.

Structured output: a strict JSON schema whose `suggested_action` is an enum of all valid
actions. Retries (with exponential backoff) on 429, 5xx, timeouts, connection errors,
malformed JSON and answers outside the valid actions; an answer still outside them after
the retries is returned flagged (valid=False), never replaced."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..io import InputError
from .base import ERROR_TYPES, TeacherAdvice, TeacherError, TeacherRequest

SYSTEM = ("You are a teacher for an agent acting in a grid world from text observations. "
          "Given the mission, the observation, the valid actions and the student's action, "
          "answer with the single best next action and a short diagnosis of the student's mistake.")


def read_api_key(env_var: str, dotenv: str | Path = ".env") -> str | None:
    """The key from the environment, else from a KEY=value line in `.env`."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    p = Path(dotenv)
    if p.exists():
        for line in p.read_text().splitlines():
            line = line.strip()
            if line.startswith("export "):
                line = line[7:]
            if line.startswith(f"{env_var}="):
                return line.split("=", 1)[1].strip().strip("'\"") or None
    return None


def response_schema(valid_actions: list[str]) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["suggested_action", "rationale", "diagnosis", "error_type", "confidence"],
        "properties": {
            "suggested_action": {"type": "string", "enum": list(valid_actions)},
            "rationale": {"type": "string"},
            "diagnosis": {"type": "string", "description": "1-2 sentences"},
            "error_type": {"type": "string", "enum": list(ERROR_TYPES)},
            "confidence": {"type": "number"},
        },
    }


def build_messages(req: TeacherRequest) -> list[dict]:
    user = (f"Mission: {req.mission}\nObservation: {req.obs_text}\n"
            f"Valid actions: {', '.join(req.valid_actions)}\nStudent's action: {req.student_action}\n"
            "Reply in JSON with suggested_action (one of the valid actions), rationale, diagnosis "
            "(1-2 sentences the student can learn from), error_type and confidence (0-1).")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


class OpenAITeacher:
    name = "openai"

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.model = cfg["model"]
        self._client = None

    def check_ready(self) -> None:
        if not read_api_key(self.cfg["api_key_env"]):
            raise InputError(f"teacher.backend is 'openai' but no API key: set the environment variable "
                             f"{self.cfg['api_key_env']} (or put it in .env)")

    @property
    def client(self):
        if self._client is None:
            import openai

            self.check_ready()
            self._client = openai.OpenAI(api_key=read_api_key(self.cfg["api_key_env"]),
                                         base_url=self.cfg.get("base_url"), timeout=self.cfg["timeout_s"],
                                         max_retries=0)
        return self._client

    def request_params(self, req: TeacherRequest) -> dict:
        return {"temperature": self.cfg["temperature"], "max_tokens": self.cfg["max_tokens"],
                "schema": response_schema(req.valid_actions)}

    def answer(self, req: TeacherRequest) -> tuple[TeacherAdvice, dict]:
        import openai

        messages = build_messages(req)
        schema = response_schema(req.valid_actions)
        stats = {"calls": 0, "tokens_in": 0, "tokens_out": 0, "invalid_answers": 0, "errors": 0}
        last_invalid, last_error = None, None
        tries = self.cfg["max_retries"] + 1
        for attempt in range(tries):
            if attempt:
                time.sleep(self.cfg["backoff_s"] * 2 ** (attempt - 1))
            stats["calls"] += 1
            try:
                resp = self.client.chat.completions.create(
                    model=self.model, messages=messages, temperature=self.cfg["temperature"],
                    max_tokens=self.cfg["max_tokens"],
                    response_format={"type": "json_schema",
                                     "json_schema": {"name": "teacher_advice", "strict": True, "schema": schema}})
            except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                    openai.APIConnectionError) as e:
                stats["errors"] += 1
                last_error = type(e).__name__
                continue
            except openai.APIStatusError as e:  # other 4xx: retrying cannot help
                raise TeacherError(f"teacher 'openai': HTTP {e.status_code} for {req.snapshot_id} "
                                   f"({type(e).__name__})", stats) from None
            if resp.usage:
                stats["tokens_in"] += resp.usage.prompt_tokens or 0
                stats["tokens_out"] += resp.usage.completion_tokens or 0
            try:
                data = json.loads(resp.choices[0].message.content or "")
                advice = TeacherAdvice(
                    suggested_action=str(data["suggested_action"]), rationale=str(data.get("rationale", "")),
                    diagnosis=str(data.get("diagnosis", "")),
                    error_type=data.get("error_type") if data.get("error_type") in ERROR_TYPES else "unknown",
                    confidence=float(data.get("confidence", 0.0)), backend=self.name, model=self.model)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                stats["errors"] += 1
                last_error = "malformed JSON answer"
                continue
            if advice.suggested_action not in req.valid_actions:
                stats["invalid_answers"] += 1
                last_invalid = advice
                continue
            advice.retries = attempt
            return advice, stats
        if last_invalid is not None:
            last_invalid.valid, last_invalid.flags, last_invalid.retries = False, ["invalid_action"], tries - 1
            return last_invalid, stats
        raise TeacherError(f"teacher 'openai': no answer for {req.snapshot_id} after {tries} tries "
                           f"(last: {last_error})", stats)
