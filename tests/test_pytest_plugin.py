"""The golden-trace pytest plugin, used by a throwaway project run with pytest in a subprocess."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TEST_FILE = """
from prompts import SYSTEM_PROMPT


def test_invoices_agent_behaves_as_recorded(replay_trace):
    replay_trace("traces/invoices.jsonl", f"task.system_prompt='{SYSTEM_PROMPT}'")
"""


def test_golden_trace_fails_on_a_prompt_change_until_recorded_again(pytester: pytest.Pytester) -> None:
    """Record, pass; change the prompt, fail with the divergence report; --record-traces, pass again."""
    pytester.makepyfile(prompts="SYSTEM_PROMPT = 'You total invoices carefully.'", test_agent=TEST_FILE)
    recorded = pytester.runpytest_subprocess("--record-traces")
    recorded.assert_outcomes(passed=1)
    golden = pytester.path / "traces" / "invoices.jsonl"
    assert golden.is_file()
    pytester.runpytest_subprocess().assert_outcomes(passed=1)

    pytester.makepyfile(prompts="SYSTEM_PROMPT = 'You total invoices quickly.'")
    changed = pytester.runpytest_subprocess()
    changed.assert_outcomes(failed=1)
    report = changed.stdout.str()
    assert f"replay DIVERGED at step 0 ({pytester.path / 'traces' / 'invoices.jsonl'})" in report
    assert 'messages[0].content: "You total invoices carefully." -> "You total invoices quickly."' in report
    assert "config drift: task.system_prompt" in report

    before = golden.read_bytes()
    pytester.runpytest_subprocess("--record-traces").assert_outcomes(passed=1)
    assert golden.read_bytes() != before
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_without_the_switch_nothing_is_recorded(pytester: pytest.Pytester) -> None:
    """A missing golden trace fails the test, naming the switch that records it, instead of being recorded quietly."""
    pytester.makepyfile(prompts="SYSTEM_PROMPT = 'x'", test_agent=TEST_FILE)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    assert f"no golden trace at {pytester.path / 'traces' / 'invoices.jsonl'}; record it with `pytest --record-traces`" in result.stdout.str()
    assert not (pytester.path / "traces").exists()


def test_record_traces_reuse_serves_the_old_golden_trace_while_requests_are_unchanged(pytester: pytest.Pytester) -> None:
    """--record-traces=reuse re-records through a reuse of the old golden trace: unchanged, every step is served."""
    import orjson

    pytester.makepyfile(prompts="SYSTEM_PROMPT = 'You total invoices carefully.'", test_agent=TEST_FILE)
    pytester.runpytest_subprocess("--record-traces").assert_outcomes(passed=1)
    golden = pytester.path / "traces" / "invoices.jsonl"
    pytester.runpytest_subprocess("--record-traces=reuse").assert_outcomes(passed=1)
    end = orjson.loads(golden.read_bytes().splitlines()[-1])
    assert end["reuse"]["reused_steps"] == 6 and end["reuse"]["live_from"] is None
    pytester.makepyfile(prompts="SYSTEM_PROMPT = 'You total invoices quickly.'")
    pytester.runpytest_subprocess("--record-traces=reuse").assert_outcomes(passed=1)
    end = orjson.loads(golden.read_bytes().splitlines()[-1])
    assert end["reuse"]["live_from"] == 0 and "messages[0].content" in end["reuse"]["reason"]
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
