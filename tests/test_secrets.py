"""Secrets are recognised by whole key names and scrubbed by value; every other setting is recorded as used."""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import agent
from tests.openai_server import FakeOpenAI, completion
from tracing.reader import read_trace
from agent_harness.secrets_hydra import scrubbed_output
from tracing.secrets import REDACTED, Scrubber, looks_secret, redact, redact_overrides, secrets_read

ENV_KEY = "sk-env-5d1e8a-never-written"
CLI_KEY = "sk-cli-77c0b2-never-written"


class TestSecretNames:
    @pytest.mark.parametrize(
        "key",
        ["api_key", "llm.api_key", "API_KEY", "apiKey", "api-key", "apikey", "password", "db.passwd", "secret", "client_secret",
         "token", "access_token", "refresh_token", "auth_token", "Authorization", "bearer", "credentials", "private_key",
         "openai_api_key", "db_password", "hf_access_token", "+llm.api_key", "aws.secret_access_key"],
    )  # fmt: skip
    def test_whole_secret_names_are_secret(self, key: str) -> None:
        """A key whose last segment is a secret name, or ends with a secret suffix, is secret."""
        assert looks_secret(key)

    @pytest.mark.parametrize(
        "key",
        ["max_tokens", "llm.max_tokens", "api_key_env", "token_budget", "tokens", "max_new_tokens", "eos_token_id",
         "tokenizer", "secretary", "password_hint_shown", "api_key.env", "key", "base_url", "model"],
    )  # fmt: skip
    def test_names_that_merely_contain_a_secret_word_are_not(self, key: str) -> None:
        """No substring match: max_tokens, api_key_env (an environment variable's name) and token_budget are settings."""
        assert not looks_secret(key)

    def test_redact_changes_only_secret_values(self) -> None:
        """Secret values become the placeholder; max_tokens, api_key_env and nulls stay exactly as they were."""
        config = {"llm": {"api_key": "sk-1234567890", "api_key_env": "OPENAI_API_KEY", "max_tokens": 100, "token_budget": 5, "password": None}}
        assert redact(config) == {"llm": {"api_key": REDACTED, "api_key_env": "OPENAI_API_KEY", "max_tokens": 100, "token_budget": 5, "password": None}}
        overrides = ["llm.max_tokens=100", "llm.api_key_env=MY_KEY", "+llm.api_key=sk-1234567890", "task=recipes"]
        assert redact_overrides(overrides) == ["llm.max_tokens=100", "llm.api_key_env=MY_KEY", f"+llm.api_key={REDACTED}", "task=recipes"]


class TestSecretsRead:
    def test_the_variable_an_env_key_names_is_read_from_the_given_environment(self) -> None:
        """llm.api_key_env names a variable: its value in the given environ is a secret; the name is not."""
        config = {"llm": {"api_key": None, "api_key_env": "MY_KEY", "max_tokens": 100}}
        assert secrets_read(config, [], {"MY_KEY": ENV_KEY, "OTHER": "not-a-secret-value"}) == {ENV_KEY}
        assert secrets_read(config, [], {}) == set()

    def test_config_and_override_values_of_secret_keys_are_secrets(self) -> None:
        """A secret key's value is read from the config, and from the overrides (each value of a sweep too)."""
        config = {"db": {"credentials": {"user": "reader-account", "password": "hunter2-hunter2"}}, "llm": {"max_tokens": 123456789}}
        found = secrets_read(config, [f"llm.api_key={CLI_KEY},sk-second-key-000"], {})
        assert found == {"reader-account", "hunter2-hunter2", f"{CLI_KEY},sk-second-key-000", CLI_KEY, "sk-second-key-000"}

    def test_values_too_short_to_be_credentials_are_not_scrubbed(self) -> None:
        """Placeholder keys of local servers (EMPTY, ollama) would garble ordinary text if scrubbed everywhere."""
        assert secrets_read({"api_key": "EMPTY"}, ["api_key=ollama"], {}) == set()
        assert redact({"api_key": "EMPTY"}) == {"api_key": REDACTED}


class TestScrubber:
    def test_text_bytes_and_data_lose_every_form_of_the_secret(self) -> None:
        """The value is replaced raw and JSON-escaped, in text, in bytes and inside data, keys included."""
        odd = 'sk-"quoted"\\slash-1234'
        scrub = Scrubber([ENV_KEY, odd])
        assert scrub.text(f"key {ENV_KEY}!") == f"key {REDACTED}!"
        assert scrub.bytes(orjson.dumps({"e": f"x{odd}y"})) == orjson.dumps({"e": f"x{REDACTED}y"})
        assert scrub.data({ENV_KEY: [f"a {odd}", 3, None]}) == {REDACTED: [f"a {REDACTED}", 3, None]}

    def test_an_empty_scrubber_changes_nothing(self) -> None:
        """With no secrets read, every value is written exactly as it is."""
        scrub = Scrubber([])
        assert not scrub and scrub.text("max_tokens=100") == "max_tokens=100" and scrub.bytes(b"x") == b"x"

    def test_scrubbed_output_covers_prints_and_log_records_and_is_undone(self, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
        """Inside the block stdout, stderr and every log record are scrubbed; after it, nothing is changed any more."""
        stdout = sys.stdout
        with caplog.at_level(logging.INFO), scrubbed_output(Scrubber([ENV_KEY])):
            print(f"out {ENV_KEY}")
            print(f"err {ENV_KEY}", file=sys.stderr)
            logging.getLogger("hydra.test").info("\t#%d : llm.api_key=%s", 0, ENV_KEY)
        assert sys.stdout is stdout
        printed = capsys.readouterr()
        assert (printed.out, printed.err) == (f"out {REDACTED}\n", f"err {REDACTED}\n")
        assert caplog.messages == [f"\t#0 : llm.api_key={REDACTED}"]


def without_key() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}


def with_key() -> dict[str, str]:
    return without_key() | {"OPENAI_API_KEY": ENV_KEY}


def replies() -> list[tuple[int, dict[str, Any]]]:
    """What the model answers in every run of these tests: one tool call, then a final answer."""
    return [(200, completion(tool_calls=[("c1", "list_files", "{}")])), (200, completion(content="Three files."))]


def openai_args(server: FakeOpenAI) -> list[str]:
    return ["llm=openai", f"llm.base_url={server.base_url}", "llm.model=test-model", "llm.max_retries=0", "llm.max_tokens=100"]


def assert_nothing_secret_anywhere(folder: Path, printed: str, secrets: tuple[str, ...]) -> list[Path]:
    """No file under ``folder`` and nothing printed holds a secret; returns the files looked at."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    for secret in secrets:
        assert secret not in printed
        assert [p for p in files if secret.encode() in p.read_bytes()] == []
    return files


# The placeholder may stand only where a secret key's value was: `"api_key":"***"`, `api_key: '***'`, `llm.api_key=***`.
PLACEHOLDER_UNDER_SECRET_KEY = re.compile(r"""api_key["']?\s*[:=]\s*["']?""" + re.escape(REDACTED))


class TestRecordedExactlyAsUsed:
    def test_fork_and_mixed_replays_of_an_openai_trace_send_the_recorded_max_tokens(self, tmp_path: Path) -> None:
        """Recorded with llm.max_tokens=100 and the key in the environment, a fork and mixed-mode replays work and send 100."""
        server = FakeOpenAI(replies() * 5)
        runs = []
        with server.running():
            runs.append(agent("run", *openai_args(server), "--trace", "t.jsonl", cwd=tmp_path, env=with_key()))
            assert runs[-1].returncode == 0, runs[-1].stderr
            runs.append(agent("replay", "t.jsonl", "replay.until=0", "tracePath=fork.jsonl", cwd=tmp_path, env=with_key()))
            runs.append(agent("replay", "t.jsonl", "replay.until=0", "replay.config=current", "tracePath=fork-current.jsonl", cwd=tmp_path, env=with_key()))
            runs.append(agent("replay", "t.jsonl", "llm=openai", "trace=true", cwd=tmp_path, env=with_key()))
            runs.append(agent("replay", "t.jsonl", "llm=openai", "replay.config=current", cwd=tmp_path, env=with_key()))
        assert [r.returncode for r in runs] == [0] * 5, [r.stdout + r.stderr for r in runs]
        assert runs[1].stdout.startswith("fork: steps 0-0 replayed as recorded") and runs[3].stdout.startswith("replay OK: 2 steps matched")
        # Two requests each: the run, the forks (live from step 1: a tool call, then the answer), the mixed replays.
        sent = [(r["body"].get("max_tokens"), r["headers"]["authorization"]) for r in server.requests]
        assert sent == [(100, f"Bearer {ENV_KEY}")] * 10
        recorded = read_trace(tmp_path / "t.jsonl").header
        assert recorded["config"]["llm"]["max_tokens"] == 100 and recorded["config"]["llm"]["api_key_env"] == "OPENAI_API_KEY"
        assert "llm.max_tokens=100" in recorded["overrides"]
        for fork in ("fork.jsonl", "fork-current.jsonl"):
            assert read_trace(tmp_path / fork).header["config"]["llm"]["max_tokens"] == 100
        files = assert_nothing_secret_anywhere(tmp_path, "".join(r.stdout + r.stderr for r in runs), (ENV_KEY,))
        assert [p.name for p in files if REDACTED.encode() in p.read_bytes()] == []  # nothing secret was in any config

    def test_a_key_on_the_command_line_is_redacted_by_name_and_the_replay_reads_its_own(self, tmp_path: Path) -> None:
        """llm.api_key=... is recorded as the placeholder only where the key was; a current-config replay does not send the placeholder."""
        server = FakeOpenAI(replies() * 2)
        with server.running():
            run = agent("run", *openai_args(server), f"llm.api_key={CLI_KEY}", "--trace", "t.jsonl", cwd=tmp_path, env=without_key())
            mixed = agent("replay", "t.jsonl", "llm=openai", "replay.config=current", cwd=tmp_path, env=with_key())
        assert (run.returncode, mixed.returncode) == (0, 0), run.stderr + mixed.stdout + mixed.stderr
        assert [r["headers"]["authorization"] for r in server.requests] == [f"Bearer {CLI_KEY}"] * 2 + [f"Bearer {ENV_KEY}"] * 2
        assert [r["body"]["max_tokens"] for r in server.requests] == [100] * 4
        files = assert_nothing_secret_anywhere(tmp_path, run.stdout + run.stderr + mixed.stdout + mixed.stderr, (CLI_KEY, ENV_KEY))
        for path in files:
            text = path.read_text(errors="replace")
            assert text.count(REDACTED) == len(PLACEHOLDER_UNDER_SECRET_KEY.findall(text)), path


class TestScrubbedByValue:
    def test_a_sweep_writes_and_prints_no_secret_even_when_the_model_and_errors_echo_it(self, tmp_path: Path) -> None:
        """Keys on the command line and in the environment, echoed in an answer and in an error, are in no file and no output."""
        # Job 0 is given the key on the command line, job 1 reads the environment's. Job 0's model echoes
        # both keys in its answer; job 1's endpoint refuses its key with a message that quotes it.
        server = FakeOpenAI(
            [(200, completion(content=f"The key is {ENV_KEY} and {CLI_KEY}.")), (401, {"error": {"message": f"Incorrect API key provided: {ENV_KEY}"}})]
        )
        with server.running():
            sweep = agent(
                "run", "-m", *openai_args(server), f"llm.api_key={CLI_KEY},null", "trace=true", "hydra.sweep.dir=sweep", cwd=tmp_path, env=with_key(), timeout=300
            )
        assert sweep.returncode in (0, 1), sweep.stderr
        assert f"llm.api_key={REDACTED}" in sweep.stdout + sweep.stderr  # Hydra's listing of the jobs, scrubbed
        assert [r["headers"]["authorization"] for r in server.requests] == [f"Bearer {CLI_KEY}", f"Bearer {ENV_KEY}"]
        statuses = [orjson.loads((tmp_path / "sweep" / str(n) / "status.json").read_bytes()) for n in (0, 1)]
        assert statuses[0]["answer"] == f"The key is {REDACTED} and {REDACTED}."
        assert statuses[1]["status"] == "error" and REDACTED in statuses[1]["error"]
        inspect = agent("trace", "inspect", "sweep", cwd=tmp_path)
        replays = [agent("replay", str(tmp_path / "sweep" / str(n) / "trace.jsonl"), cwd=tmp_path, env=without_key()) for n in (0, 1)]
        printed = "".join(r.stdout + r.stderr for r in (sweep, inspect, *replays))
        files = assert_nothing_secret_anywhere(tmp_path, printed, (ENV_KEY, CLI_KEY))
        assert {"multirun.yaml", "config.yaml", "hydra.yaml", "overrides.yaml", "status.json", "trace.jsonl"} <= {p.name for p in files}
