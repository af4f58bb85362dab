"""The tools and the model on their own, without a run."""

from pathlib import Path

import pytest

from agent.records import LLMRequest
from agent.runtime import Runtime
from agent.tools import Toolbox, ToolContext, ToolError
from support_agent.llm import KeywordLLM
from support_agent.tools import Priority, lookup_order, set_priority

SEED = Path(__file__).parents[1] / "seeds" / "helpdesk"


def context(workspace: Path = SEED) -> ToolContext:
    return ToolContext(workspace=workspace, memory={}, runtime=Runtime(seed=0).view)


def test_lookup_order_returns_the_row_as_data() -> None:
    """An order is a dict with numbers as numbers."""
    assert lookup_order(context(), "A-1002") == {
        "order_id": "A-1002", "customer": "Sam Ortiz", "item": "coffee grinder", "total_eur": 89.5, "status": "in transit", "days_in_transit": 9,
    }  # fmt: skip


def test_an_unknown_order_is_an_error_the_model_reads() -> None:
    """A ToolError's message becomes the tool result the model sees."""
    with pytest.raises(ToolError, match="no order 'B-1'"):
        lookup_order(context(), "B-1")


def test_set_priority_changes_memory_only_through_its_output() -> None:
    """The memory update is returned, never applied by the tool."""
    out = set_priority("T-1", Priority.URGENT, "broken")
    assert out.memory == {"ticket": "T-1", "priority": "urgent"}


def test_the_model_sees_the_enum_and_literal_as_json_schema(tmp_path: Path) -> None:
    """Priority becomes an enum of its values, tone a string enum with its default."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    conf = OmegaConf.load(Path(__file__).parents[1] / "conf" / "tools" / "helpdesk.yaml")
    conf.workspace = str(tmp_path)
    toolbox: Toolbox = instantiate(conf)
    schemas = {s["function"]["name"]: s["function"]["parameters"] for s in toolbox.schemas}
    assert schemas["set_priority"]["$defs"]["Priority"]["enum"] == ["low", "normal", "urgent"]
    assert schemas["send_reply"]["properties"]["tone"] == {"enum": ["friendly", "formal"], "type": "string", "description": "friendly or formal greeting.", "default": "friendly"}


def test_the_model_first_looks_up_the_order_named_in_the_ticket() -> None:
    """KeywordLLM decides from the conversation alone."""
    llm = KeywordLLM()
    messages = [{"role": "system", "content": "help desk"}, {"role": "user", "content": "Ticket T-7: order A-1003 arrived broken"}]
    tools = tuple({"type": "function", "function": {"name": n}} for n in ("lookup_order", "search_kb", "set_priority", "send_reply"))
    response = llm.complete(LLMRequest(messages=messages, tools=tools, model=llm.model, params=llm.params))
    (call,) = response.tool_calls
    assert (call.name, call.arguments) == ("lookup_order", '{"order_id":"A-1003"}')
