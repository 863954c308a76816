"""Teacher backends. The openai backend runs the real `openai` client against an
OpenAI-compatible HTTP server started here on 127.0.0.1."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from teachable.io import InputError
from teachable.teacher import TeacherError, TeacherRequest, make_teacher, merge_usage
from teachable.teacher.bot import error_type

KEY = "sk-test-SECRET-0123456789abcdef"
VALID = ["turn left", "turn right", "go forward", "pick up"]


def req(i=0, student="turn left"):
    return TeacherRequest(f"s{i}", "go to the red key", f"you see a red key {i} steps forward .", list(VALID),
                          student, expert_action="go forward", expert_subgoal="go to the red key")


class Server:
    """Scripted chat-completions server: each request pops the next behaviour."""

    def __init__(self):
        self.script, self.requests = [], []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                kind = outer.script.pop(0) if outer.script else "good"
                if kind == "hang":
                    time.sleep(2.5)
                    kind = "good"
                if kind in ("429", "500"):
                    self.send_response(int(kind))
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(json.dumps({"error": {"message": kind}}).encode())
                    return
                content = {"good": json.dumps({"suggested_action": "go forward", "rationale": "r",
                                               "diagnosis": "the key is ahead .", "error_type": "planning_error",
                                               "confidence": 0.9}),
                           "bad_json": "{not json",
                           "invalid": json.dumps({"suggested_action": "fly", "rationale": "r", "diagnosis": "d",
                                                  "error_type": "unknown", "confidence": 0.1})}[kind]
                out = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": content}}],
                       "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}
                data = json.dumps(out).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def teacher(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TEACHABLE_TEST_KEY", KEY)
    cfg = {"backend": "openai", "model": "test-model", "base_url": server.url, "temperature": 0.0,
           "max_tokens": 200, "timeout_s": 1.0, "max_retries": 2, "backoff_s": 0.01,
           "price_in_per_1k": 0.001, "price_out_per_1k": 0.002, "api_key_env": "TEACHABLE_TEST_KEY"}
    return make_teacher(cfg, cache_dir=tmp_path / "cache")


def no_key_anywhere(root):
    for p in root.rglob("*"):
        if p.is_file():
            assert KEY not in p.read_text(errors="ignore"), f"API key leaked into {p}"


def test_good_answer_schema_and_cache(server, teacher, tmp_path):
    adv = teacher.advise(req())
    assert adv.suggested_action == "go forward" and adv.valid and not adv.cached
    body = server.requests[0]["body"]
    assert server.requests[0]["auth"] == f"Bearer {KEY}"
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["suggested_action"]["enum"] == VALID and body["temperature"] == 0.0
    user = body["messages"][-1]["content"]
    assert all(a in user for a in VALID) and "Student's action: turn left" in user and "red key" in user
    again = teacher.advise(req())
    assert again.cached and len(server.requests) == 1
    u = teacher.usage.to_dict()
    assert (u["calls"], u["cache_hits"], u["tokens_in"], u["tokens_out"]) == (1, 1, 100, 20)
    assert u["estimated_cost_usd"] == pytest.approx(0.1 * 0.001 + 0.02 * 0.002)
    (tmp_path / "usage.json").write_text(json.dumps(u))
    no_key_anywhere(tmp_path)


def test_429_then_good_is_retried(server, teacher):
    server.script = ["429", "good"]
    adv = teacher.advise(req())
    assert adv.valid and adv.retries == 1
    assert teacher.usage.calls == 2 and teacher.usage.retries == 1 and teacher.usage.errors == 1


def test_500_until_retries_run_out_fails_loudly(server, teacher, tmp_path):
    server.script = ["500"] * 3
    with pytest.raises(TeacherError, match="no answer for s0 after 3 tries") as e:
        teacher.advise(req())
    assert KEY not in str(e.value)
    assert teacher.usage.calls == 3 and teacher.usage.errors == 4  # 3 HTTP errors + the failed request


def test_hang_past_timeout_is_retried(server, teacher):
    server.script = ["hang", "good"]
    t = time.time()
    adv = teacher.advise(req())
    assert adv.valid and adv.retries == 1 and time.time() - t < 10


def test_malformed_json_is_retried(server, teacher):
    server.script = ["bad_json", "good"]
    assert teacher.advise(req()).valid and teacher.usage.retries == 1


def test_invalid_action_retried_then_flagged_not_replaced(server, teacher, tmp_path):
    server.script = ["invalid"] * 3
    adv = teacher.advise(req())
    assert not adv.valid and adv.flags == ["invalid_action"] and adv.suggested_action == "fly"
    u = teacher.usage
    assert (u.calls, u.invalid_answers, u.flagged) == (3, 3, 1)
    server.script = ["good"]  # flagged answers are not cached: a rerun asks again
    assert teacher.advise(req()).valid and len(server.requests) == 4
    no_key_anywhere(tmp_path)


def test_invalid_then_valid_is_accepted(server, teacher):
    server.script = ["invalid", "good"]
    adv = teacher.advise(req())
    assert adv.valid and adv.suggested_action == "go forward" and teacher.usage.invalid_answers == 1


def test_missing_key_stops_at_once(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    monkeypatch.chdir(tmp_path)
    t = make_teacher({"backend": "openai", "model": "m", "api_key_env": "NO_SUCH_KEY_VAR"}, tmp_path)
    with pytest.raises(InputError, match="NO_SUCH_KEY_VAR"):
        t.check_ready()
    (tmp_path / ".env").write_text("NO_SUCH_KEY_VAR=from-dotenv\n")
    t.check_ready()  # the .env file is enough


def test_unknown_backend_named():
    with pytest.raises(InputError, match="teacher.backend: unknown backend 'gpt'"):
        make_teacher({"backend": "gpt"})


def test_bot_teacher_language_and_error_types(tmp_path):
    t = make_teacher({"backend": "bot"}, cache_dir=tmp_path)
    adv = t.advise(req(student="pick up"))
    assert adv.suggested_action == "go forward" and "go to the red key" in adv.diagnosis
    assert adv.error_type == "affordance_miss" and adv.valid
    assert t.advise(req(student="pick up")).cached and t.usage.calls == 1
    assert error_type("turn left", "go forward", "explore", "") == "exploration_failure"
    assert error_type("pick up", "go forward", "go to the red key", "you face a green ball .") == "attribute_confusion"
    assert error_type("turn left", "turn right", "go to the red key", "") == "planning_error"
    with pytest.raises(TeacherError, match="no expert_action"):
        t.advise(TeacherRequest("x", "m", "o", VALID, "turn left"))


def test_merge_usage_sums_shards():
    m = merge_usage([{"backend": "bot", "calls": 2, "cache_hits": 1}, {"calls": 3, "tokens_in": 5}])
    assert m["calls"] == 5 and m["cache_hits"] == 1 and m["tokens_in"] == 5 and m["n_parts"] == 2
