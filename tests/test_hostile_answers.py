"""Whatever an OpenAI-compatible server answers, the run ends cleanly and its trace reads and replays.

A real server on 127.0.0.1 (tests/openai_server.py) serves answers that hypothesis makes up: null,
numeric and missing tool-call ids, arguments sent as objects (nested deep, with huge integers),
content that is a list, a number or an object, negative, fractional and huge usage, lone
surrogates and terminal escapes in every string. They go through the real ``openai`` SDK and
backend (``llm=openai``) and the real CLI, in this process so that many examples fit in seconds.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.records import MalformedAnswer, response_from_message
from tests.openai_server import FakeOpenAI
from tests.test_robustness import assert_clean_outcome, nested, run_cli
from tracing.reader import read_trace

ODD_TEXT = st.lists(st.sampled_from(["a", "é", " ", "\ud800", "\udfff", "\x1b[2J", "\x00", "\u2028", "{", '"']), max_size=5).map("".join)
SCALAR = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | ODD_TEXT
VALUE = st.recursive(SCALAR, lambda children: st.lists(children, max_size=2) | st.dictionaries(ODD_TEXT, children, max_size=2), max_leaves=6)
DEEP = st.integers(60, 110).map(nested)
CONTENT = st.none() | ODD_TEXT | st.integers(-(2**70), 2**70) | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": ODD_TEXT}), min_size=1, max_size=2) | VALUE | DEEP
TOOL = st.sampled_from(["remember", "recall", "calculator", "no_such_tool"]) | st.none() | st.integers(0, 3)
ARGUMENTS = (
    st.none()
    | ODD_TEXT
    | st.fixed_dictionaries({"key": ODD_TEXT, "value": VALUE | DEEP})
    | st.fixed_dictionaries({"expression": st.sampled_from(["1 + 2", "2 ** 70", "1/0"])}).map(lambda a: orjson.dumps(a).decode())
)
CALL_ID = st.none() | ODD_TEXT | st.integers(-5, 2**70)
TOOL_CALL = st.builds(lambda i, n, a: {"id": i, "type": "function", "function": {"name": n, "arguments": a}}, CALL_ID, TOOL, ARGUMENTS)
COUNT = st.integers(-10, 2**70) | st.floats(-5, 1e30, allow_nan=False) | st.sampled_from(["7", None, True])
USAGE = st.none() | st.fixed_dictionaries({"prompt_tokens": COUNT, "completion_tokens": COUNT})


@st.composite
def answers(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One to three chat.completion bodies: tool calls, odd content, odd usage; the last may be a final answer."""
    bodies = []
    for _ in range(draw(st.integers(1, 3))):
        message: dict[str, Any] = {"role": "assistant", "content": draw(CONTENT)}
        if draw(st.booleans()):
            message["tool_calls"] = draw(st.lists(TOOL_CALL, min_size=1, max_size=2))
        body: dict[str, Any] = {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
        usage = draw(USAGE)
        if usage is not None:
            body["usage"] = usage
        bodies.append(body)
    return bodies


COUNTER = itertools.count()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(bodies=answers())
def test_hostile_answers_end_cleanly_and_their_trace_inspects_and_replays(tmp_path: Path, bodies: list[dict[str, Any]]) -> None:
    """Exit 0, 1 or 2 with no traceback; the trace then inspects (exit 0) and replays, matching every step."""
    folder = tmp_path / f"run{next(COUNTER)}"
    folder.mkdir()
    server = FakeOpenAI([(200, body) for body in bodies])  # once they run out: 500, which ends the run as an error
    with server.running():
        code, out, err = run_cli(
            "run", "llm=openai", f"llm.base_url={server.base_url}", "llm.model=m", "llm.max_retries=0", "agent.max_steps=3",
            "--trace", "t.jsonl", "hydra.run.dir=run", cwd=folder,
        )  # fmt: skip
    assert_clean_outcome(code, err, allowed=(0, 1, 2))
    trace = folder / "t.jsonl"
    if not trace.exists():
        assert code == 2
        return
    recorded = read_trace(trace)  # every record whole and accepted
    assert recorded.end is not None, out + err
    code, shown, err = run_cli("trace", "inspect", "t.jsonl", "--full", cwd=folder)
    assert code == 0, err
    assert "\x1b" not in shown and "\x00" not in shown  # terminal escapes are shown, not sent
    shutil.rmtree(folder / "run", ignore_errors=True)
    code, out, err = run_cli("replay", "t.jsonl", "hydra.run.dir=replay", cwd=folder)
    assert code == 0 and out.startswith("replay OK"), out + err


class TestTheRuleForAnswers:
    def test_odd_shapes_are_kept_in_a_form_the_trace_holds(self) -> None:
        """Null ids, object arguments, content parts, numbers and lone surrogates become text, by one documented rule."""
        response = response_from_message(
            {
                "content": [{"type": "text", "text": "sum: "}, {"type": "text", "text": "3\ud800"}],
                "tool_calls": [
                    {"id": None, "function": {"name": "calculator", "arguments": {"expression": "1 + 2", "a": [2**70]}}},
                    {"id": 7, "function": {"name": "recall", "arguments": None}},
                ],
            },
            usage={"prompt_tokens": 12.0, "completion_tokens": 3},
        )
        assert response.message["content"] == "sum: 3\ufffd"
        assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
            ("call_0", "calculator", '{"a":[1180591620717411303424],"expression":"1 + 2"}'),
            ("7", "recall", ""),
        ]
        assert response.message["tool_calls"][0]["function"]["arguments"] == response.tool_calls[0].arguments
        assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (12, 3)

    @pytest.mark.parametrize("count", [-5, 12.5, 2**70, "7", True, None])
    def test_usage_that_is_not_a_whole_count_is_unreported(self, count: Any) -> None:
        """A negative, fractional, huge or non-number token count leaves the usage unreported."""
        assert response_from_message({"content": "hi"}, usage={"prompt_tokens": count, "completion_tokens": 1}).usage is None

    @pytest.mark.parametrize("content", [5, 2.5, {"a": 1}, [1, 2]])
    def test_content_that_is_not_text_is_its_json_text(self, content: Any) -> None:
        """A number, an object or a list that is not text parts is kept as its canonical JSON text."""
        assert response_from_message({"content": content}).message["content"] == orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()

    @pytest.mark.parametrize("message", [None, "text", {"tool_calls": "x"}, {"tool_calls": [5]}, {"tool_calls": [{"id": "a"}]}])
    def test_an_answer_with_no_usable_form_is_a_malformed_answer(self, message: Any) -> None:
        """Not an object, or tool calls that are not a list of objects with a function: MalformedAnswer, which ends the run as an error."""
        with pytest.raises(MalformedAnswer):
            response_from_message(message)
