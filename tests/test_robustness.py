"""Traces survive the crashes they explain, and reading one is safe whatever it holds."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import blocking_tools
from tests.conftest import AGENT, agent, run_in_process
from tracing.errors import TraceError
from tracing.reader import read_trace

LONG_STEPS = 50_000  # long enough that a kill within 0.4 s of the first steps usually lands among them (a step is ~30-60 µs)
KILLS_WANTED = 20


def long_task(folder: Path, *, steps: int = LONG_STEPS, gate: Path | None = None) -> list[str]:
    """A task of ``steps`` memory reads, then, with a ``gate``, a call that blocks on that fifo; the overrides that pick it.

    The blocking call is the event a signal test waits for: the run is known to be mid-run however
    fast or slow the machine is, and it cannot finish before the test acts.
    """
    task = folder / "conf" / "task"
    task.mkdir(parents=True, exist_ok=True)
    script: list[dict[str, Any]] = [{"tool_calls": [{"name": "recall", "arguments": {"key": "n"}}], "repeat": steps}]
    if gate is not None:
        os.mkfifo(gate)
        script.append({"tool_calls": [{"name": "wait_here", "arguments": {"fifo": str(gate)}}]})
    config = {"name": "long", "system_prompt": "Count.", "prompt": "Count up.", "workspace_seed": None, "script": [*script, {"content": "done"}]}
    (task / "long.yaml").write_bytes(orjson.dumps(config))  # JSON is YAML
    overrides = [f"hydra.searchpath=[file://{folder / 'conf'}]", "task=long", f"agent.max_steps={len(script) + steps}"]
    return [*overrides, blocking_tools.TOOL_OVERRIDE] if gate is not None else overrides


def wait_for_steps(trace: Path, process: subprocess.Popen[Any], steps: int) -> None:
    """Wait until ``trace`` holds ``steps`` whole step records (or the process has ended)."""
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if trace.exists() and trace.read_bytes().count(b"\n") > steps:
            return
        time.sleep(0.005)


def run_cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    """`agent ARGS` in this process, from ``cwd`` (fast enough to fuzz), as (exit status, stdout, stderr)."""
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        return run_in_process(*args)
    finally:
        os.chdir(previous)


def assert_clean_outcome(code: int, stderr: str, allowed: tuple[int, ...] = (0, 2)) -> None:
    """Exit 0, or a documented status with exactly one `agent: error:` line, never a traceback."""
    assert code in allowed, stderr
    assert "Traceback" not in stderr
    if code == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("agent: error: "), stderr


class TestCrashSafety:
    def test_sigkill_at_random_moments_leaves_whole_records_that_replay(self, tmp_path: Path) -> None:
        """20 runs killed at random moments mid-run: every trace reads, inspect says where it was cut, replay matches every whole step."""
        rng = random.Random(20261125)
        torn = 0
        for kill in range(KILLS_WANTED):
            folder = tmp_path / f"k{kill}"
            folder.mkdir()
            trace = folder / "t.jsonl"
            # The run ends in a call that blocks until killed, so the kill always lands mid-run, however fast the machine.
            overrides = long_task(folder, gate=folder / "gate")
            process = subprocess.Popen(
                [AGENT, "run", *overrides, "--trace", str(trace)], cwd=folder, env=blocking_tools.environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            # Wait for the first steps, then kill at a random moment of the run.
            wait_for_steps(trace, process, 2)
            time.sleep(rng.uniform(0, 0.4))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            recorded = read_trace(trace)  # raises TraceError if any whole record were damaged
            assert recorded.end is None and len(recorded.steps) >= 2
            torn += recorded.torn
            code, out, err = run_cli("trace", "inspect", str(trace), cwd=folder)
            assert code == 0 and f"cut off after step {len(recorded.steps) - 1}" in out, err
            code, out, err = run_cli("replay", str(trace), "allowed_targets=[tests]", cwd=folder)
            assert code == 0 and out.startswith(f"replay OK: {len(recorded.steps)} steps matched; the recording ends there"), out + err
        print(f"\n{KILLS_WANTED} SIGKILLs mid-run, {torn} of them tore a line; every trace read and replayed")

    def test_ctrl_c_ends_the_run_with_an_interrupted_end_record(self, tmp_path: Path) -> None:
        """SIGINT mid-run: the trace ends with status interrupted after its last whole step, and the run exits 1."""
        trace, gate = tmp_path / "t.jsonl", tmp_path / "gate"
        overrides = long_task(tmp_path, steps=20, gate=gate)
        process = subprocess.Popen(
            [AGENT, "run", *overrides, "--trace", str(trace)], cwd=tmp_path, env=blocking_tools.environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        # SIGINT lands while the run is inside step 20's blocking tool call, after 20 whole steps.
        held = blocking_tools.open_when_reached(gate, process)
        try:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=120)
        finally:
            os.close(held)
        recorded = read_trace(trace)
        seen = f"exit {process.returncode}; stdout {out[:300]!r}; stderr {err[-1500:]!r}"
        assert process.returncode == 1 and "Traceback" not in err, seen
        assert recorded.end is not None and recorded.end["status"] == "interrupted", seen
        assert recorded.end["steps"] == len(recorded.steps) == 20, seen
        assert out.startswith("interrupted after 20 steps"), seen

    @pytest.mark.parametrize("policy", ["never", "end", "step"])
    def test_every_fsync_policy_records_the_same_run(self, tmp_path: Path, policy: str) -> None:
        """traceFsync changes when records reach the disk, never what they are."""
        result = agent("run", "--trace", "t.jsonl", f"traceFsync={policy}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert read_trace(tmp_path / "t.jsonl").end["status"] == "finished"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real trace of the default task."""
    folder = tmp_path_factory.mktemp("fuzz")
    assert agent("run", "--trace", "t.jsonl", cwd=folder).returncode == 0
    return (folder / "t.jsonl").read_bytes()


def check_inspect(folder: Path, content: bytes) -> None:
    (folder / "f.jsonl").write_bytes(content)
    code, _, err = run_cli("trace", "inspect", "f.jsonl", cwd=folder)
    assert_clean_outcome(code, err)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def mutate(records: list[dict[str, Any]], data: st.DataObject) -> list[dict[str, Any]]:
    """Walk to a random field of a random record and delete it or give it another value."""
    index = data.draw(st.integers(0, len(records) - 1), label="record")
    node: Any = records[index]
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys), label="field")
        child = node[key]
        if isinstance(child, dict | list) and child and data.draw(st.booleans(), label="deeper"):
            node = child
            continue
        how = data.draw(st.sampled_from(["delete", "replace", "huge", "deep"]), label="how")
        if how == "delete" and isinstance(node, dict):
            del node[key]
        else:
            node[key] = {"replace": None, "delete": None, "huge": 10**300 * 1.0, "deep": nested(200)}[how] if how != "replace" else data.draw(JSON, label="value")
        break
    return records


class TestHostileInput:
    def test_truncation_at_every_byte_reads_or_fails_cleanly(self, recorded: bytes, tmp_path: Path) -> None:
        """Cut anywhere, the trace is read as cut off or refused with one line; never a traceback."""
        for cut in range(len(recorded) + 1):
            check_inspect(tmp_path, recorded[:cut])
        print(f"\n{len(recorded) + 1} truncations inspected")

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def test_bit_flips_and_byte_garbage_fail_cleanly(self, recorded: bytes, tmp_path: Path, data: st.DataObject) -> None:
        """Flipped bits, invalid UTF-8 and inserted bytes give exit 0 or 2 with one line."""
        content = bytearray(recorded)
        for _ in range(data.draw(st.integers(1, 4), label="damages")):
            position = data.draw(st.integers(0, len(content) - 1), label="position")
            if data.draw(st.booleans(), label="flip"):
                content[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
            else:
                content[position:position] = data.draw(st.binary(min_size=1, max_size=4), label="inserted")
        check_inspect(tmp_path, bytes(content))

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def test_wrong_fields_and_values_fail_cleanly_in_inspect(self, recorded: bytes, tmp_path: Path, data: st.DataObject) -> None:
        """Missing fields, wrong types, huge numbers and deep nesting anywhere: exit 0 or 2, one line."""
        records = mutate([orjson.loads(line) for line in recorded.splitlines()], data)
        check_inspect(tmp_path, b"".join(orjson.dumps(r) + b"\n" for r in records))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def test_wrong_fields_and_values_fail_cleanly_in_replay(self, recorded: bytes, tmp_path: Path, data: st.DataObject) -> None:
        """The same damage under replay: matched (0), diverged (1) or refused (2), never a traceback."""
        records = mutate([orjson.loads(line) for line in recorded.splitlines()], data)
        (tmp_path / "f.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        shutil.rmtree(tmp_path / "outputs", ignore_errors=True)
        code, out, err = run_cli("replay", "f.jsonl", cwd=tmp_path)
        assert_clean_outcome(code, err, allowed=(0, 1, 2))
        assert code != 1 or out.startswith("replay DIVERGED at step")

    @pytest.mark.parametrize(
        "content",
        [
            b"[" + b",".join([b'{"kind":"header"}'] * 3) + b"]\n",
            b"[" * 100_000 + b"]" * 100_000 + b"\n",
            b'{"kind": "header", "format": "agent-trace", "x": "' + b"\xff\xfe" * 10 + b'"}\n',
            b'{"kind": "header", "format": "agent-trace", "schema_version": 99999999999999999999999}\n',
        ],
        ids=["json-array", "deeply-nested", "invalid-utf8", "huge-version"],
    )
    def test_odd_files_fail_cleanly(self, tmp_path: Path, content: bytes) -> None:
        """Odd shapes of file are refused with one line."""
        (tmp_path / "f.jsonl").write_bytes(content)
        code, _, err = run_cli("trace", "inspect", "f.jsonl", cwd=tmp_path)
        assert code == 2
        assert_clean_outcome(code, err)

    def test_huge_line_costs_memory_in_proportion(self, tmp_path: Path, recorded: bytes) -> None:
        """A 50 MB tool output is read with memory a small multiple of the file, not more."""
        records = [orjson.loads(line) for line in recorded.splitlines()]
        records[2]["tool_calls"][0]["output"] = "x" * 50_000_000
        (tmp_path / "big.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (large) pytest process that forked us.
        code = (
            "import sys; from agent_harness.cli import main\ntry:\n    main(['trace', 'inspect', 'big.jsonl'])\nexcept SystemExit:\n    pass\n"
            "print([line for line in open('/proc/self/status') if line.startswith('VmHWM')][0].split()[1], file=sys.stderr)"
        )
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        peak_mb = int(done.stderr.strip().splitlines()[-1]) / 1024
        assert 50 < peak_mb < 50 * 6, f"peak {peak_mb:.0f} MB for a 50 MB trace"


class TestNoNetwork:
    @pytest.mark.skipif(shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"], check=False).returncode != 0, reason="needs unshare -n")
    def test_replay_passes_in_a_network_namespace_without_interfaces(self, tmp_path: Path) -> None:
        """With no network at all (unshare -n), a replay still matches every step."""
        assert agent("run", "--trace", "t.jsonl", cwd=tmp_path).returncode == 0
        env = {k: v for k, v in os.environ.items() if "KEY" not in k}
        done = subprocess.run(["unshare", "-n", AGENT, "replay", "t.jsonl"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0 and done.stdout.startswith("replay OK: 6 steps matched"), done.stdout + done.stderr


def test_reading_a_trace_never_raises_anything_but_trace_error(recorded: bytes, tmp_path: Path) -> None:
    """The reader's contract, checked directly on a handful of damaged files."""
    for damaged in (recorded[:-1] + b"x\n", recorded.replace(b'"kind":"step"', b'"kind":7', 1), b"\n" * 10):
        (tmp_path / "d.jsonl").write_bytes(damaged)
        with pytest.raises(TraceError):
            read_trace(tmp_path / "d.jsonl")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fast_step_check_accepts_nothing_the_full_check_refuses(recorded: bytes, data: st.DataObject) -> None:
    """The written-out fast path of the step check never lets through a record the spec-driven check rejects."""
    from tracing.schema import RECORDS, _step_ok

    original = [orjson.loads(line) for line in recorded.splitlines()]
    assert all(_step_ok(r) for r in original if r["kind"] == "step")  # well-formed steps take the fast path
    records = mutate(original, data)
    for record in records:
        if isinstance(record, dict) and record.get("kind") == "step" and _step_ok(record):
            assert RECORDS["step"](record) is None, RECORDS["step"](record)
