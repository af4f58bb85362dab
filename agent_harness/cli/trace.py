"""``agent trace``: inspect, diff and export recorded traces. Never imports Hydra, so it starts fast."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent_harness.cli import fail


def main(args: list[str]) -> None:
    """``agent trace inspect|diff|export ...``."""
    parser = argparse.ArgumentParser(prog="agent trace", description="Read recorded traces.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    inspect = sub.add_parser("inspect", help="print a recorded run step by step as plain text")
    inspect.add_argument("trace", type=Path, help="a trace file (.jsonl), a run's folder, or a sweep's folder (one row per job)")
    inspect.add_argument("--full", action="store_true", help="show messages, arguments and outputs untruncated")
    inspect.add_argument("--raw", action="store_true", help="print control characters from the trace as they are, instead of escaped (\\x1b)")
    diff = sub.add_parser("diff", help="compare two traces step by step; exit 0 when they match apart from times, 1 when they differ")
    diff.add_argument("a", type=Path, help="the first trace (.jsonl)")
    diff.add_argument("b", type=Path, help="the second trace (.jsonl)")
    diff.add_argument("--json", action="store_true", help="print the comparison as JSON")
    export = sub.add_parser("export", help="write a trace in another format (otel: OTLP JSON spans, GenAI conventions)")
    export.add_argument("trace", type=Path, help="the trace (.jsonl)")
    export.add_argument("--format", choices=["otel"], default="otel", help="otel: OpenTelemetry OTLP JSON (default)")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: standard output); never overwritten")
    edit = sub.add_parser("edit", help="write a copy of a trace with one tool output changed, digests and hashes consistent")
    edit.add_argument("trace", type=Path, help="the trace (.jsonl)")
    edit.add_argument("--step", type=int, required=True, help="the step of the tool call")
    edit.add_argument("--call", type=int, default=0, help="the tool call's position in the step (default 0)")
    edit.add_argument("--output", required=True, help="the new output, as JSON (a string needs its quotes: '\"text\"')")
    edit.add_argument("-o", "--out", type=Path, required=True, help="the new trace file; never overwritten")
    options = parser.parse_args(args)

    from tracing.errors import TraceError

    try:
        if options.action == "diff":
            from agent_harness import api

            _diff(api.diff(options.a, options.b), as_json=options.json)
        elif options.action == "edit":
            _edit(options)
        elif options.action == "export":
            _export(options.trace, options.output)
        else:
            # The trace library's inspect, which agent_harness.api.inspect is: importing the API module
            # (its result dataclasses) would add ~7 ms to a command that takes ~45.
            from tracing.inspection import inspect

            for line in inspect(options.trace, full=options.full, raw=options.raw):
                print(line)
    except TraceError as err:
        fail(str(err))


def _diff(diff: object, *, as_json: bool) -> None:
    from tracing.diff import render

    if as_json:
        import orjson

        print(orjson.dumps(diff.as_dict(), default=str).decode())  # type: ignore[attr-defined]
    else:
        for line in render(diff):  # type: ignore[arg-type]
            print(line)
    raise SystemExit(0 if diff.identical else 1)  # type: ignore[attr-defined]


def _export(trace: Path, output: Path | None) -> None:
    from tracing.export_otel import export_bytes, write_new

    data = export_bytes(trace)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_new(output, data)


def _edit(options: argparse.Namespace) -> None:
    import orjson

    from tracing.edit import edit_tool_output
    from tracing.reader import read_trace

    try:
        output = orjson.loads(options.output)
    except orjson.JSONDecodeError as err:
        fail(f"--output {options.output!r:.60} is not JSON ({err}); give a JSON value, as in --output '{{\"total\": 12}}' or --output '\"text\"'")
    written = edit_tool_output(read_trace(options.trace), step=options.step, call=options.call, output=output, out=options.out)
    print(f"edited: step {options.step}, tool call {options.call} of {options.trace} -> {written}")
