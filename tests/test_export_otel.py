"""`agent trace export`: a recorded run as OpenTelemetry spans in OTLP JSON, GenAI conventions."""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import agent, one_line_error
from tests.openai_server import FakeOpenAI, completion
from tracing.reader import read_trace

INTERNAL, CLIENT, ERROR = 1, 3, 2  # SpanKind and StatusCode as integers, as OTLP JSON writes them


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trace of the default (scripted) task, recorded through the CLI: no token usage."""
    folder = tmp_path_factory.mktemp("recorded")
    assert agent("run", "--trace", "t.jsonl", cwd=folder).returncode == 0
    return folder / "t.jsonl"


@pytest.fixture(scope="module")
def with_usage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trace of llm=openai against a local fake server: usage on every step, and one failing tool call."""
    folder = tmp_path_factory.mktemp("openai")
    calls = [("c1", "calculator", '{"expression": "1 + 2"}'), ("c2", "calculator", '{"expression": 1 +')]
    server = FakeOpenAI([(200, completion(tool_calls=calls)), (200, completion(content="3", prompt_tokens=40, completion_tokens=9))])
    with server.running():
        result = agent("run", "llm=openai", f"llm.base_url={server.base_url}", "llm.model=test-model", "--trace", "t.jsonl", cwd=folder, env=_env())
    assert result.returncode == 0, result.stderr
    return folder / "t.jsonl"


def _env() -> dict[str, str]:
    return os.environ | {"OPENAI_API_KEY": "sk-test-export"}


def export(trace: Path, *args: str) -> bytes:
    """The OTLP JSON `agent trace export` prints for a trace."""
    result = agent("trace", "export", str(trace), *args, cwd=trace.parent)
    assert result.returncode == 0, result.stderr
    return result.stdout.encode()


def spans(data: bytes) -> list[dict[str, Any]]:
    request = orjson.loads(data)
    return request["resourceSpans"][0]["scopeSpans"][0]["spans"]


def attributes(span: dict[str, Any]) -> dict[str, Any]:
    """A span's attributes as {key: plain value}; int64 values come as JSON strings and are turned back into ints."""
    plain = {}
    for attribute in span["attributes"]:
        [(kind, value)] = attribute["value"].items()
        plain[attribute["key"]] = int(value) if kind == "intValue" else value
    return plain


class TestExport:
    def test_output_parses_as_an_otlp_export_request(self, recorded: Path) -> None:
        """The official protobuf JSON mapping reads the output as an ExportTraceServiceRequest with every span."""
        json_format = pytest.importorskip("google.protobuf.json_format", reason="needs opentelemetry-proto (dev extra)")
        service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2", reason="needs opentelemetry-proto (dev extra)")
        request = json_format.Parse(export(recorded), service.ExportTraceServiceRequest())
        parsed = request.resource_spans[0].scope_spans[0].spans
        trace = read_trace(recorded)
        assert len(parsed) == 1 + len(trace.steps) + sum(len(s["tool_calls"]) for s in trace.steps)
        assert all(s.end_time_unix_nano >= s.start_time_unix_nano > 0 for s in parsed)
        assert [s.kind for s in parsed[:3]] == [INTERNAL, CLIENT, INTERNAL]

    def test_one_span_per_llm_call_and_tool_call_under_the_run(self, recorded: Path) -> None:
        """A root invoke_agent span, then each step's chat span followed by its tool spans, all its children."""
        trace = read_trace(recorded)
        root, *children = spans(export(recorded))
        expected = []
        for step in trace.steps:
            expected += ["chat scripted", *(f"execute_tool {c['name']}" for c in step["tool_calls"])]
        assert root["name"] == "invoke_agent invoices" and "parentSpanId" not in root
        assert [c["name"] for c in children] == expected
        assert {c["parentSpanId"] for c in children} == {root["spanId"]}
        assert {s["traceId"] for s in children} == {root["traceId"]}
        # OTLP JSON writes ids as hex (not base64 as plain protobuf JSON would): 16 and 8 bytes
        assert re.fullmatch("[0-9a-f]{32}", root["traceId"])
        assert all(re.fullmatch("[0-9a-f]{16}", s["spanId"]) for s in [root, *children])
        assert len({s["spanId"] for s in [root, *children]}) == len(children) + 1

    def test_spans_carry_the_genai_attributes_and_recorded_times(self, recorded: Path) -> None:
        """Operation, model, temperature, tool name and call id are set; a chat span starts at its step, tools follow it."""
        trace = read_trace(recorded)
        root, chat, tool, *_ = spans(export(recorded))
        assert attributes(root) | {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "invoices"} == attributes(root)
        assert attributes(chat) == {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "scripted",
            "gen_ai.request.model": "scripted",
            "gen_ai.request.temperature": 0.0,
        }  # the scripted model reports no usage: no token attributes
        call = trace.steps[0]["tool_calls"][0]
        assert {k: v for k, v in attributes(tool).items() if k != "gen_ai.tool.description"} == {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call["name"],
            "gen_ai.tool.call.id": call["id"],
            "gen_ai.tool.type": "function",
        }
        assert int(chat["startTimeUnixNano"]) == Decimal(repr(trace.steps[0]["timestamp"])).scaleb(9)
        assert tool["startTimeUnixNano"] == chat["endTimeUnixNano"]
        assert int(tool["endTimeUnixNano"]) - int(tool["startTimeUnixNano"]) == pytest.approx(call["latency_s"] * 1e9, abs=1)
        assert int(root["startTimeUnixNano"]) <= int(chat["startTimeUnixNano"])

    def test_token_usage_becomes_usage_attributes(self, with_usage: Path) -> None:
        """Each chat span holds its step's input and output tokens; the root holds the run's totals."""
        trace = read_trace(with_usage)
        root, *children = spans(export(with_usage))
        chats = [attributes(c) for c in children if c["name"] == "chat test-model"]
        usages = [s["response"]["usage"] for s in trace.steps]
        assert [(c["gen_ai.usage.input_tokens"], c["gen_ai.usage.output_tokens"]) for c in chats] == [(u["prompt_tokens"], u["completion_tokens"]) for u in usages]
        assert (attributes(root)["gen_ai.usage.input_tokens"], attributes(root)["gen_ai.usage.output_tokens"]) == (51, 16)
        assert attributes(root)["gen_ai.provider.name"] == "openai"

    def test_failed_tool_call_is_an_error_span(self, with_usage: Path) -> None:
        """A tool call that failed sets status ERROR with its message and an error.type; the others stay unset."""
        tools = [s for s in spans(export(with_usage)) if s["name"] == "execute_tool calculator"]
        assert [t["status"]["code"] for t in tools] == [0, ERROR]
        assert tools[1]["status"]["message"].startswith("arguments are not valid JSON")
        assert "error.type" in attributes(tools[1]) and "error.type" not in attributes(tools[0])

    def test_message_contents_stay_out_of_the_export(self, recorded: Path) -> None:
        """Prompts, answers and tool outputs are not exported: only names, ids, counts and times."""
        data = export(recorded)
        for text in ("careful bookkeeping agent", "INV-1044", "3949.74", "report.md"):
            assert text.encode() not in data

    def test_exporting_twice_gives_the_same_bytes(self, recorded: Path, tmp_path: Path) -> None:
        """Ids and times come from the trace alone: two exports, to stdout and to a file, are identical."""
        first = export(recorded)
        assert agent("trace", "export", str(recorded), "-o", "out.json", cwd=tmp_path).returncode == 0
        assert (tmp_path / "out.json").read_bytes() == first == export(recorded, "--format", "otel")

    def test_cut_off_trace_exports_its_whole_steps(self, recorded: Path, tmp_path: Path) -> None:
        """A trace torn mid-record exports the steps it has; the root span ends with the last of them."""
        raw = recorded.read_bytes().splitlines(keepends=True)
        cut = tmp_path / "cut.jsonl"
        cut.write_bytes(b"".join(raw[:4]) + raw[4][:40])
        root, *children = spans(export(cut))
        assert [c["name"] for c in children if c["name"].startswith("chat")] == ["chat scripted"] * 3
        assert root["endTimeUnixNano"] == max((c["endTimeUnixNano"] for c in children), key=int)
        assert attributes(root)["agent_harness.run.status"] == "cut_off"

    def test_failed_run_marks_the_root_span_as_error(self, tmp_path: Path) -> None:
        """A run that ended with status error exports a root span with status ERROR and the exception's name."""
        server = FakeOpenAI([(401, {"error": {"message": "Incorrect API key provided"}})])
        with server.running():
            run = agent("run", "llm=openai", f"llm.base_url={server.base_url}", "llm.max_retries=0", "--trace", "t.jsonl", cwd=tmp_path, env=_env())
        assert run.returncode == 1, run.stderr
        [root] = spans(export(tmp_path / "t.jsonl"))
        assert root["status"]["code"] == ERROR and "Incorrect API key" in root["status"]["message"]
        assert attributes(root)["error.type"] == "AuthenticationError"


class TestExportRefuses:
    def test_existing_output_file_is_not_overwritten(self, recorded: Path, tmp_path: Path) -> None:
        """-o naming an existing file exits 2 with one line and leaves the file as it was."""
        target = tmp_path / "out.json"
        target.write_text("keep me")
        result = agent("trace", "export", str(recorded), "-o", str(target), cwd=tmp_path)
        assert result.returncode == 2 and "already exists" in one_line_error(result)
        assert target.read_text() == "keep me" and result.stdout == ""

    def test_missing_trace_is_a_one_line_error(self, tmp_path: Path) -> None:
        """A trace path that does not exist exits 2 with one line naming it, and writes no output file."""
        result = agent("trace", "export", "nope.jsonl", "-o", "out.json", cwd=tmp_path)
        assert result.returncode == 2 and "no trace at nope.jsonl" in one_line_error(result)
        assert not (tmp_path / "out.json").exists()
