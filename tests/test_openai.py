"""llm=openai against a real OpenAI-compatible HTTP server on 127.0.0.1, through the real SDK and CLI."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from tests.conftest import agent, one_line_error
from tests.openai_server import FakeOpenAI, completion
from tracing.reader import read_trace

KEY = "sk-test-7f3a9c1e-do-not-leak"
TOTAL = "1200.00 + 349.99 + 89.50 + 2310.25"


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return base | extra


def run_against(server: FakeOpenAI, tmp_path: Path, *args: str, key: str | None = KEY):  # noqa: ANN201
    extra = {"OPENAI_API_KEY": key} if key else {}
    return agent("run", "llm=openai", f"llm.base_url={server.base_url}", "llm.model=test-model", "llm.max_retries=1", *args, cwd=tmp_path, env=env(**extra))


def happy_replies() -> list[tuple[int, dict]]:
    return [
        (200, completion(tool_calls=[("c1", "read_file", '{"path": "invoices.csv"}'), ("c2", "calculator", orjson.dumps({"expression": TOTAL}).decode())])),
        (200, completion(content="The invoices total 3949.74 EUR.", prompt_tokens=40, completion_tokens=9)),
    ]


class TestOpenAIBackend:
    def test_run_records_what_the_server_received_and_replays_offline(self, tmp_path: Path) -> None:
        """Two tool calls in one message run in order; the trace holds each request exactly as sent; replay needs no server or key."""
        server = FakeOpenAI(happy_replies())
        with server.running():
            result = run_against(server, tmp_path, "--trace", "t.jsonl")
        assert result.returncode == 0, result.stderr
        assert "answer: The invoices total 3949.74 EUR." in result.stdout
        trace = read_trace(tmp_path / "t.jsonl")
        assert len(server.requests) == len(trace.steps) == 2
        for sent, step, prompt in zip(server.requests, trace.steps, trace.prompts, strict=True):
            body = sent["body"]
            assert sent["headers"]["authorization"] == f"Bearer {KEY}"
            assert body["messages"] == list(prompt)
            assert body["tools"] == step["tools"] if "tools" in step else trace.steps[0]["tools"]
            assert (body["model"], body["temperature"]) == (step["model"], step["params"]["temperature"]) == ("test-model", 0.0)
        first = trace.steps[0]
        assert [(c["name"], c["output"]) for c in first["tool_calls"]] == [("read_file", first["tool_calls"][0]["output"]), ("calculator", "3949.74")]
        assert "INV-1044" in first["tool_calls"][0]["output"]
        assert first["response"]["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        assert trace.end["usage"] == {"prompt_tokens": 51, "completion_tokens": 16, "total_tokens": 67}
        replay = agent("replay", "t.jsonl", cwd=tmp_path, env=env())  # server stopped, no key
        assert replay.returncode == 0 and replay.stdout.startswith("replay OK: 2 steps matched"), replay.stdout + replay.stderr

    def test_server_error_is_retried_then_succeeds(self, tmp_path: Path) -> None:
        """A 500 is retried by the SDK; the run goes on and records one step per answer."""
        server = FakeOpenAI([(500, {"error": {"message": "overloaded"}}), *happy_replies()])
        with server.running():
            result = run_against(server, tmp_path, "--trace", "t.jsonl")
        assert result.returncode == 0, result.stderr
        assert len(server.requests) == 3 and len(read_trace(tmp_path / "t.jsonl").steps) == 2

    def test_permanent_auth_error_ends_the_run_as_error_in_the_trace(self, tmp_path: Path) -> None:
        """A 401 is not retried: the run ends with status error, the message in the end record, exit 1."""
        server = FakeOpenAI([(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})])
        with server.running():
            result = run_against(server, tmp_path, "--trace", "t.jsonl")
        assert result.returncode == 1 and result.stdout.startswith("error after 0 steps: LLM call failed:")
        assert len(server.requests) == 1
        end = read_trace(tmp_path / "t.jsonl").end
        assert end["status"] == "error" and "AuthenticationError" in end["error"] and "Incorrect API key" in end["error"]

    def test_malformed_tool_arguments_become_an_error_the_model_sees(self, tmp_path: Path) -> None:
        """Arguments that are not JSON are recorded raw and answered with an error result; the run goes on."""
        server = FakeOpenAI([(200, completion(tool_calls=[("c1", "calculator", '{"expression": 1 +')])), (200, completion(content="sorry"))])
        with server.running():
            result = run_against(server, tmp_path, "--trace", "t.jsonl")
        assert result.returncode == 0, result.stderr
        call = read_trace(tmp_path / "t.jsonl").steps[0]["tool_calls"][0]
        assert call["arguments"] == '{"expression": 1 +' and "not valid JSON" in call["error"]
        assert server.requests[1]["body"]["messages"][-1]["content"].startswith("error: arguments are not valid JSON")

    def test_an_answer_that_is_not_a_completion_ends_the_run_as_error(self, tmp_path: Path) -> None:
        """A 200 whose body is not JSON (a proxy's page) or has no choices: status error naming what came, exit 1."""
        odd = ((b"<html>502 from a proxy</html>", "the endpoint's answer is not JSON"), ({"choices": []}, "the endpoint answered with no choices (model test-model)"))
        for number, (reply, says) in enumerate(odd):
            server = FakeOpenAI([(200, reply)])
            with server.running():
                result = run_against(server, tmp_path, "--trace", f"t{number}.jsonl")
            assert result.returncode == 1 and result.stdout.startswith("error after 0 steps: LLM call failed:"), result.stdout + result.stderr
            assert says in result.stdout

    def test_missing_key_without_base_url_is_unusable_input(self, tmp_path: Path) -> None:
        """Asking OpenAI itself with no key set fails before any request, naming the variable."""
        result = agent("run", "llm=openai", cwd=tmp_path, env=env())
        assert result.returncode == 2 and "set OPENAI_API_KEY" in one_line_error(result)


class TestSecrets:
    def test_no_file_or_output_holds_the_key(self, tmp_path: Path) -> None:
        """Run, trace, inspect and replay with the key in the environment and on the command line: it is written nowhere."""
        cli_key = "sk-cli-3b9d-also-secret"
        server = FakeOpenAI(happy_replies() + happy_replies())
        outputs = []
        with server.running():
            outputs.append(run_against(server, tmp_path, "--trace", "env.jsonl"))
            outputs.append(run_against(server, tmp_path, "--trace", "cli.jsonl", f"llm.api_key={cli_key}", key=None))
        assert [r.returncode for r in outputs] == [0, 0], [r.stderr for r in outputs]
        assert server.requests[-1]["headers"]["authorization"] == f"Bearer {cli_key}"
        for name in ("env.jsonl", "cli.jsonl"):
            outputs.append(agent("trace", "inspect", name, "--full", cwd=tmp_path))
            outputs.append(agent("replay", name, "trace=true", cwd=tmp_path, env=env()))
        printed = "".join(r.stdout + r.stderr for r in outputs)
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert len(files) > 10  # traces, .hydra records, logs, workspaces
        for secret in (KEY, cli_key):
            assert secret not in printed
            assert [p for p in files if secret.encode() in p.read_bytes()] == []
