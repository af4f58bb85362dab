"""The `agent` command, run for real as a subprocess through its console script."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import orjson

from tests.blocking_tools import environment
from tests.conftest import AGENT, PYTHON, agent, one_line_error


class TestRun:
    def test_run_finishes_offline_and_says_where_its_files_are(self, tmp_path: Path) -> None:
        """`agent run` answers, exits 0, and writes its workspace under the printed run dir, no trace."""
        result = agent("run", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "answer: The 4 invoices in invoices.csv total 3949.74 EUR" in result.stdout
        run_dir = Path(result.stdout.split("run dir: ")[1].split()[0])
        assert run_dir.is_relative_to(tmp_path / "outputs")
        assert "3949.74" in (run_dir / "workspace" / "report.md").read_text()
        assert not list(tmp_path.rglob("*.jsonl"))

    def test_trace_flag_and_trace_overrides_record_the_same_run(self, tmp_path: Path) -> None:
        """`--trace PATH` and `trace=true tracePath=PATH` both write a complete trace to PATH."""
        first = agent("run", "--trace", "a.jsonl", cwd=tmp_path)
        second = agent("run", "trace=true", "tracePath=b.jsonl", cwd=tmp_path)
        assert first.returncode == second.returncode == 0, first.stderr + second.stderr
        a, b = ([orjson.loads(line) for line in (tmp_path / name).read_bytes().splitlines()] for name in ("a.jsonl", "b.jsonl"))
        assert [r["kind"] for r in a] == ["header", *["step"] * 6, "end"]
        assert [r["state"]["sha256"] for r in a[1:-1]] == [r["state"]["sha256"] for r in b[1:-1]]
        assert a[0]["overrides"] == ["trace=true", "tracePath='a.jsonl'"]
        assert a[0]["choices"]["llm"] == "scripted" and a[0]["config"]["task"]["name"] == "invoices"

    def test_an_option_needing_a_key_the_config_lacks_says_which(self, tmp_path: Path) -> None:
        """llm=scripted plays task.script: a task without one is a one-line error naming both keys, exit 2, nothing run."""
        result = agent("run", "~task.script", cwd=tmp_path)
        assert result.returncode == 2
        assert one_line_error(result) == (
            "agent: error: cannot resolve the config: llm.script is ${task.script}, and the config has no task.script; "
            "set it (task.script=...) or choose options that do not need it"
        )
        assert not list(tmp_path.rglob("workspace")) and not list(tmp_path.rglob("*.jsonl"))

    def test_an_override_holding_an_interpolation_is_recorded_as_given(self, tmp_path: Path) -> None:
        """`+note=${oc.env:X}`: the run resolves it, while status.json, the trace header and .hydra keep the override as typed."""
        override = "+note=${oc.env:AGENT_TEST_NOTE}"
        result = agent("run", "--trace", "t.jsonl", override, cwd=tmp_path, env={**os.environ, "AGENT_TEST_NOTE": "resolved"})
        assert (result.returncode, result.stderr) == (0, "")
        status = orjson.loads(next(tmp_path.glob("outputs/*/*/status.json")).read_bytes())
        header = orjson.loads((tmp_path / "t.jsonl").read_bytes().splitlines()[0])
        assert override in status["overrides"] and override in header["overrides"]
        assert header["config"]["note"] == "resolved"

    def test_a_run_whose_config_cannot_resolve_says_so_in_one_line_and_in_its_status_file(self, tmp_path: Path) -> None:
        """Exit 2 with one line, and status.json says failed and why, as a sweep's job of the same config does."""
        env = {k: v for k, v in os.environ.items() if k != "AGENT_TEST_UNSET"}
        single = agent("run", "+note=${oc.env:AGENT_TEST_UNSET}", cwd=tmp_path, env=env)
        line = one_line_error(single)
        assert single.returncode == 2 and "AGENT_TEST_UNSET" in line
        status = orjson.loads(next(tmp_path.glob("outputs/*/*/status.json")).read_bytes())
        assert status["status"] == "failed" and "AGENT_TEST_UNSET" in status["error"]
        assert status["overrides"] == ["+note=${oc.env:AGENT_TEST_UNSET}"]
        sweep = agent("run", "-m", "+note=${oc.env:AGENT_TEST_UNSET}", "seed=0", cwd=tmp_path, env=env)
        swept = orjson.loads(next(tmp_path.glob("multirun/*/*/*/status.json")).read_bytes())
        assert sweep.returncode == 1 and swept["status"] == status["status"] and swept["error"] == status["error"]

    def test_the_collector_is_on_once_a_run_starts_with_the_start_frozen(self, tmp_path: Path) -> None:
        """`agent run` pauses the cyclic collector while it starts: its tools run with it back on, and with what the start built frozen out of it.

        A sweep's jobs start again in the same process: there nothing is frozen.
        """
        tool = "tools.tools.list_files._target_=tests.odd_tools.collector_state"
        single = agent("run", "--trace", "t.jsonl", tool, cwd=tmp_path, env=environment())
        sweep = agent("run", "-m", "trace=true", tool, "seed=0,1", cwd=tmp_path, env=environment())
        assert single.returncode == sweep.returncode == 0, single.stderr + sweep.stderr
        traces = [tmp_path / "t.jsonl", *sorted(tmp_path.glob("multirun/*/*/*/trace.jsonl"))]
        states = [orjson.loads(path.read_bytes().splitlines()[1])["tool_calls"][0]["output"] for path in traces]
        assert states == [{"enabled": True, "frozen": True}, {"enabled": True, "frozen": False}, {"enabled": True, "frozen": False}]

    def test_a_reader_that_went_away_does_not_fail_the_run(self, tmp_path: Path) -> None:
        """`agent run --trace T | head` with head gone: exit 0, nothing on stderr, status.json and the trace say finished."""
        read_end, write_end = os.pipe()
        os.close(read_end)  # gone before the run writes a byte: every write to stdout fails, deterministically
        try:
            result = subprocess.run([AGENT, "run", "--trace", "t.jsonl"], cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
        finally:
            os.close(write_end)
        assert (result.returncode, result.stderr) == (0, "")
        status = orjson.loads(next(tmp_path.glob("outputs/*/*/status.json")).read_bytes())
        assert status["status"] == "finished" and status.get("error") is None
        assert orjson.loads((tmp_path / "t.jsonl").read_bytes().splitlines()[-1])["status"] == "finished"

    def test_a_run_composes_its_config_once_and_writes_what_hydra_would(self, tmp_path: Path) -> None:
        """Hydra composes a run's config twice (get_mode, then run): `agent run` composes it once, with the same result."""
        script = """
import contextlib, sys
from hydra._internal.config_loader_impl import ConfigLoaderImpl
import agent_harness.cli.run as run
composing = ConfigLoaderImpl.load_configuration
count = []
def load_configuration(self, *args, **kwargs):
    count.append(1)
    return composing(self, *args, **kwargs)
ConfigLoaderImpl.load_configuration = load_configuration
if sys.argv[1] == "run-twice":  # Hydra's own way, for comparison
    run.composed_once = contextlib.nullcontext
from agent_harness.cli import main
main(["run", "hydra.run.dir=" + sys.argv[1], "seed=3", "task=recipes"])
print("compositions:", len(count))
"""
        ours = subprocess.run([PYTHON, "-c", script, "run-once"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        hydras = subprocess.run([PYTHON, "-c", script, "run-twice"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        assert ours.returncode == hydras.returncode == 0, ours.stderr + hydras.stderr
        assert "compositions: 1" in ours.stdout and "compositions: 2" in hydras.stdout
        for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
            once, twice = ((tmp_path / run / ".hydra" / name).read_text().replace(run, "DIR") for run in ("run-once", "run-twice"))
            assert once == twice, name
        assert "hydra.mode=RUN" in (tmp_path / "run-once" / ".hydra" / "hydra.yaml").read_text()

    def test_a_config_that_makes_itself_a_sweep_still_sweeps(self, tmp_path: Path) -> None:
        """hydra.mode=MULTIRUN in a project's config sweeps without -m; a sweep's values without either are still refused."""
        (tmp_path / "conf").mkdir()
        (tmp_path / "conf" / "sweepy.yaml").write_text("defaults:\n  - config\n  - _self_\nhydra:\n  mode: MULTIRUN\n")
        swept = agent("run", "-cd", "conf", "-cn", "sweepy", "seed=1,2", cwd=tmp_path)
        assert swept.returncode == 0, swept.stderr
        assert "[job 0] finished after 6 steps" in swept.stdout and "[job 1] finished after 6 steps" in swept.stdout
        assert len(list(tmp_path.glob("multirun/*/*/*/status.json"))) == 2
        refused = agent("run", "seed=1,2", cwd=tmp_path)
        assert refused.returncode == 2
        assert "Ambiguous value for argument 'seed=1,2'" in one_line_error(refused) and "add --multirun" in refused.stderr

    def test_a_reader_that_went_away_leaves_a_sweep_quiet(self, tmp_path: Path) -> None:
        """`agent run -m ... | head` with head gone: Hydra's log lines print no logging tracebacks; every job finishes."""
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            result = subprocess.run([AGENT, "run", "-m", "seed=1,2"], cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
        finally:
            os.close(write_end)
        assert (result.returncode, result.stderr) == (0, "")
        statuses = [orjson.loads(path.read_bytes())["status"] for path in tmp_path.glob("multirun/*/*/*/status.json")]
        assert statuses == ["finished", "finished"]

    def test_trace_flag_takes_any_file_name(self, tmp_path: Path) -> None:
        """Spaces, quotes, commas and equals signs in the path do not trip Hydra's override grammar."""
        name = "my traces/it's a,b=c.jsonl"
        result = agent("run", "--trace", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / name).is_file()

    def test_default_trace_path_is_in_the_run_dir(self, tmp_path: Path) -> None:
        """With trace=true and no tracePath the trace goes to the job's output dir."""
        result = agent("run", "trace=true", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        run_dir = Path(result.stdout.split("run dir: ")[1].split()[0])
        assert (run_dir / "trace.jsonl").is_file()
        assert f"trace: {run_dir / 'trace.jsonl'}" in result.stdout

    def test_untraced_run_matches_traced_run(self, tmp_path: Path) -> None:
        """trace=false prints the same status and answer as a traced run."""
        untraced = agent("run", "trace=false", cwd=tmp_path)
        traced = agent("run", "--trace", "t.jsonl", cwd=tmp_path)

        def summary(out: str) -> list[str]:
            return [line for line in out.splitlines() if line.startswith(("finished", "answer:"))]

        assert summary(untraced.stdout) == summary(traced.stdout) and len(summary(traced.stdout)) == 2

    def test_sweep_writes_one_trace_per_job(self, tmp_path: Path) -> None:
        """`-m task=invoices,recipes trace=true` gives each job its own trace with its own overrides."""
        result = agent("run", "-m", "task=invoices,recipes", "trace=true", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        traces = sorted((tmp_path / "multirun").rglob("trace.jsonl"))
        assert len(traces) == 2
        headers = [orjson.loads(t.read_bytes().splitlines()[0]) for t in traces]
        assert [h["overrides"] for h in headers] == [["task=invoices", "trace=True"], ["task=recipes", "trace=True"]]  # as Hydra hands a sweep job its overrides
        assert [h["job"]["num"] for h in headers] == [0, 1]

    def test_run_that_hits_max_steps_exits_1(self, tmp_path: Path) -> None:
        """A run that does not finish says so and exits 1."""
        result = agent("run", "agent.max_steps=2", cwd=tmp_path)
        assert result.returncode == 1 and result.stdout.startswith("max_steps after 2 steps")

    def test_existing_trace_is_refused_and_kept(self, tmp_path: Path) -> None:
        """A second run pointed at the same trace path exits 2 with one line and leaves the trace intact."""
        assert agent("run", "--trace", "t.jsonl", cwd=tmp_path).returncode == 0
        before = (tmp_path / "t.jsonl").read_bytes()
        again = agent("run", "--trace", "t.jsonl", cwd=tmp_path)
        assert again.returncode == 2 and "already exists" in one_line_error(again)
        assert (tmp_path / "t.jsonl").read_bytes() == before

    def test_bad_override_exits_2_with_one_line(self, tmp_path: Path) -> None:
        """An unknown key or group option is unusable input: one line on stderr, status 2."""
        for override, words in (("nosuchkey=1", "Could not override 'nosuchkey'"), ("task=nosuchtask", "Could not find 'task/nosuchtask'")):
            result = agent("run", override, cwd=tmp_path)
            assert result.returncode == 2 and words in one_line_error(result)

    def test_setting_of_the_wrong_kind_exits_2_naming_it(self, tmp_path: Path) -> None:
        """A value the run cannot use, or an override Hydra rejects as a plain ValueError, is one line and status 2."""
        for override, words in (
            ("agent.max_steps=abc", "agent.max_steps is 'abc'; expected a whole number >= 0"),
            ("seed=x", "seed is 'x'; expected a whole number"),
            ("task.prompt=[1,2]", "task.prompt is [1, 2]; expected text"),
            ("+agent=5", "Config group override must be a string or a list"),
        ):
            result = agent("run", override, cwd=tmp_path)
            assert result.returncode == 2 and words in one_line_error(result), result.stderr

    def test_replayed_config_of_the_wrong_shape_exits_2(self, tmp_path: Path) -> None:
        """A trace whose recorded agent section is not a mapping cannot be replayed: one line, status 2 (found by fuzzing)."""
        assert agent("run", "--trace", "t.jsonl", cwd=tmp_path).returncode == 0
        lines = (tmp_path / "t.jsonl").read_bytes().splitlines(keepends=True)
        header = orjson.loads(lines[0])
        header["config"]["agent"] = 1e308
        (tmp_path / "odd.jsonl").write_bytes(orjson.dumps(header) + b"\n" + b"".join(lines[1:]))
        result = agent("replay", "odd.jsonl", cwd=tmp_path)
        assert result.returncode == 2 and "agent.max_steps is missing; expected a whole number >= 0" in one_line_error(result), result.stderr

    def test_trace_flag_without_path_or_with_a_sweep_is_refused(self, tmp_path: Path) -> None:
        """`--trace` needs a path and names one file, so it cannot serve a sweep."""
        assert "needs a file path" in one_line_error(agent("run", "--trace", cwd=tmp_path))
        sweep = agent("run", "-m", "--trace", "t.jsonl", "task=invoices,recipes", cwd=tmp_path)
        assert sweep.returncode == 2 and "use trace=true" in one_line_error(sweep)


class TestHelp:
    def test_agent_help_lists_the_commands(self, tmp_path: Path) -> None:
        """`agent --help` names run and trace inspect."""
        result = agent("--help", cwd=tmp_path)
        assert result.returncode == 0 and "run [--trace PATH]" in result.stdout and "trace inspect" in result.stdout

    def test_run_help_is_hydras_with_the_config_groups(self, tmp_path: Path) -> None:
        """`agent run --help` shows the groups and their options."""
        result = agent("run", "--help", cwd=tmp_path)
        assert result.returncode == 0
        assert "Usage: agent run [--trace PATH]" in result.stdout
        assert "task: invoices, recipes" in result.stdout and "llm: local, openai, replay, scripted" in result.stdout

    def test_cfg_job_prints_the_composed_config(self, tmp_path: Path) -> None:
        """`agent run --cfg job` prints the config with overrides applied, and runs nothing."""
        result = agent("run", "--cfg", "job", "task=recipes", cwd=tmp_path)
        assert result.returncode == 0 and "name: recipes" in result.stdout and "max_steps: 20" in result.stdout
        assert not (tmp_path / "outputs").exists()
        assert not list(tmp_path.rglob("workspace")) and not list(tmp_path.rglob("*.jsonl"))

    def test_shell_completion_completes_run_overrides(self, tmp_path: Path) -> None:
        """Hydra's bash completion, installed for `agent`, completes group options after `agent run`."""
        install = agent("run", "-sc", "install=bash", cwd=tmp_path)
        assert install.returncode == 0 and "hydra_bash_completion agent" in install.stdout
        env = {**os.environ, "COMP_LINE": "agent run task=", "COMP_POINT": "15"}
        query = agent("-sc", "query=bash", cwd=tmp_path, env=env)
        assert query.stdout.split() == ["task=invoices", "task=recipes"]

    def test_unknown_command_exits_2(self, tmp_path: Path) -> None:
        """A typo gets one line that names the commands."""
        result = agent("rnu", cwd=tmp_path)
        assert result.returncode == 2 and "expected run, replay, resume or trace" in one_line_error(result)


class TestInspect:
    def test_the_command_leaves_its_objects_to_the_os_at_exit_and_a_caller_its_collector(self, tmp_path: Path) -> None:
        """As the process's entry, `agent` freezes its objects once its work is done (the exit's last collection
        skips them); called from a longer process (argv given), it leaves that process's collector as it was."""
        assert agent("run", "--trace", "t.jsonl", cwd=tmp_path).returncode == 0
        script = (
            "import gc, sys\nfrom agent_harness.cli import main\n"
            "entry = sys.argv[1] == 'entry'\nsys.argv = ['agent', 'trace', 'inspect', 't.jsonl']\n"
            "main() if entry else main(sys.argv[1:])\n"
            "print('frozen' if gc.get_freeze_count() else 'not frozen', gc.isenabled(), file=sys.stderr)\n"
        )
        done = [subprocess.run([PYTHON, "-c", script, how], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False) for how in ("entry", "caller")]
        assert [(d.returncode, "end       finished after 6 steps" in d.stdout, d.stderr) for d in done] == [(0, True, "frozen True\n"), (0, True, "not frozen True\n")]

    def test_inspect_prints_every_step_and_the_end(self, tmp_path: Path) -> None:
        """The summary has the header, each step's tool calls with output and state hash, and the ending."""
        assert agent("run", "--trace", "t.jsonl", cwd=tmp_path).returncode == 0
        result = agent("trace", "inspect", "t.jsonl", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        out = result.stdout
        trace = [orjson.loads(line) for line in (tmp_path / "t.jsonl").read_bytes().splitlines()]
        assert f"run       {trace[0]['run_id']}" in out
        assert "task      invoices" in out and "model     scripted  temperature=0.0" in out
        for step in trace[1:-1]:
            assert f"step {step['index']}  " in out
            assert f"state {step['state']['sha256'][:12]}" in out
        assert 'call calculator({"expression":"1200.00 + 349.99 + 89.50 + 2310.25"})\n    -> "3949.74"' in out
        assert "end       finished after 6 steps" in out
        assert "answer    The 4 invoices in invoices.csv total 3949.74 EUR" in out

    def test_full_shows_what_the_summary_truncates(self, tmp_path: Path) -> None:
        """Long outputs are cut to one line by default and shown whole with --full."""
        assert agent("run", "--trace", "t.jsonl", cwd=tmp_path).returncode == 0
        short = agent("trace", "inspect", "t.jsonl", cwd=tmp_path).stdout
        full = agent("trace", "inspect", "t.jsonl", "--full", cwd=tmp_path).stdout
        assert "INV-1044" not in short and "…" in short
        assert "INV-1044,Harbor Logistics,2026-10-28,2310.25" in full
