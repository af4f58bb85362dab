"""The agent's memory and its share of the state hash: a function of the memory alone, updated in O(change)."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agent.state
from agent.state import AgentState, History, Memory, as_memory, summary_hash, with_update

KEYS = st.sampled_from([f"k{i}" for i in range(8)])
VALUES = st.none() | st.integers(-5, 5) | st.text(max_size=5) | st.lists(st.integers(0, 3), max_size=3)
UPDATES = st.lists(st.dictionaries(KEYS, VALUES, max_size=4), max_size=12)


class TestMemoryDigest:
    @settings(max_examples=150, deadline=None)
    @given(start=st.dictionaries(KEYS, VALUES.filter(lambda v: v is not None), max_size=6), updates=UPDATES, hash_first=st.booleans())
    def test_the_incremental_digest_is_the_digest_of_the_memory_alone(self, start: dict[str, Any], updates: list[dict[str, Any]], hash_first: bool) -> None:
        """Carried forward update by update, or worked out from scratch, the digest is the same: it depends on the memory only."""
        memory = Memory(start)
        if hash_first:
            memory.digest()  # from here on every update carries the digest forward
        plain = dict(start)
        for update in updates:
            memory = memory.updated(update)
            for key, value in update.items():
                if value is None:
                    plain.pop(key, None)
                else:
                    plain[key] = value
        assert dict(memory) == plain
        assert memory.digest() == Memory(dict(reversed(list(plain.items())))).digest() == Memory(MappingProxyType(plain)).digest()

    def test_different_memories_have_different_digests(self) -> None:
        """A changed value, an added key, a renamed key and a moved value all change the digest."""
        base = {"a": 1, "b": [1, 2]}
        variants = [{"a": 2, "b": [1, 2]}, {"a": 1, "b": [1, 2], "c": None}, {"a": 1, "c": [1, 2]}, {"a": [1, 2], "b": 1}, {}]
        digests = {Memory(base).digest(), *(Memory(v).digest() for v in variants)}
        assert len(digests) == 1 + len(variants)

    def test_a_hashed_memory_rehashes_only_the_keys_an_update_touches(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With 1,000 keys remembered, setting one key and deleting another encodes one key's value, not the memory."""
        memory = Memory({f"k{i}": "x" * 100 for i in range(1000)})
        memory.digest()
        encoded: list[Any] = []
        real = agent.state.entry_digest
        monkeypatch.setattr(agent.state, "entry_digest", lambda key, value: encoded.append(key) or real(key, value))
        after = memory.updated({"new": "y", "k3": None})
        again = after.updated({"k5": "z"})
        assert encoded == ["new", "k5"]
        monkeypatch.undo()
        assert again.digest() == Memory(dict(again)).digest()

    def test_an_unrecorded_run_never_hashes_its_memory(self) -> None:
        """Memory updated step after step works out no digest until something asks for one (tracing off costs nothing)."""
        memory: Any = AgentState().memory
        for step in range(50):
            memory = with_update(memory, {f"k{step}": step})
        assert isinstance(memory, Memory) and memory._digests is None
        memory.digest()
        assert memory.updated({"k": 1})._digests is not None

    def test_hashing_the_shared_empty_memory_does_not_turn_hashing_on(self) -> None:
        """Every run starts from the same empty memory: hashing it in one run leaves the next unhashed."""
        AgentState().hash()
        assert with_update(AgentState().memory, {"a": 1})._digests is None  # type: ignore[attr-defined]

    def test_follows_tells_whether_updates_explain_a_memory(self) -> None:
        """A memory follows another through exactly the updates that made it, in order."""
        earlier = Memory({"a": 1, "b": 2})
        later = earlier.updated({"a": 5}).updated({"c": 3, "b": None})
        assert later.follows(earlier, [{"a": 5}, {"c": 3, "b": None}])
        assert later.follows(earlier, [{"a": 4}, {"a": 5, "c": 3, "b": None}])  # the last write wins
        assert not later.follows(earlier, [{"a": 5}])  # c and b unexplained
        assert not later.follows(earlier, [{"a": 6}, {"c": 3, "b": None}])
        assert not Memory({"a": 5, "c": 3, "x": 0}).follows(earlier, [{"a": 5}, {"c": 3, "b": None}])  # x came from elsewhere


    def test_follows_judges_by_content_however_the_memory_was_made(self) -> None:
        """The loop's own case (made by ``updated`` with this very update) is answered from how it was made; any other by digests."""
        start = Memory({"x": "1"})
        start.digest()
        update = {"y": "2"}
        made = start.updated(update)
        assert made.follows(start, [update])  # how the loop makes it
        assert made.follows(Memory(start), [update])  # an equal memory, another object
        assert made.follows(start, [{"y": "2"}])  # an equal update, another dict
        assert not made.follows(start, [{"y": "3"}])
        other = Memory({"x": "other"})
        other.digest()
        assert not made.follows(other, [update])  # the same update on another memory does not explain it
        unhashed = Memory({"x": "1"}).updated(update)  # made before hashing was on: judged by digests, rightly
        assert unhashed.follows(start, [update]) and not unhashed.follows(other, [update])


class TestStateHash:
    def test_the_hash_from_a_summary_is_the_states_hash(self) -> None:
        """summary_hash (what a reader of the fields computes) and AgentState.hash (incremental) agree."""
        state = AgentState(History([{"role": "user", "content": "hi"}]), step=3, done=True, answer="5").update_memory({"x": {"y": [1, 2.5]}, 7: "seven"})
        assert summary_hash(state.summary()) == state.hash()
        assert as_memory(state.memory) is state.memory

    def test_the_hash_is_a_function_of_the_state_whatever_its_memory_type(self) -> None:
        """A state holding its memory as a dict, a read-only view or a Memory hashes the same."""
        memory = {"a": 1, "b": "two"}
        states = [AgentState(memory=memory), AgentState(memory=MappingProxyType(memory)), AgentState(memory=Memory(memory)), AgentState().update_memory(memory)]
        assert len({s.hash() for s in states}) == 1


def test_traces_hashed_by_different_rules_diff_by_their_fields(tmp_path: Path) -> None:
    """The committed version-1 golden trace and today's version-3 recording of the same run: identical apart from times."""
    from tests.conftest import agent

    assert agent("run", "--trace", "new.jsonl", cwd=tmp_path).returncode == 0
    golden = Path(__file__).parent / "traces" / "invoices.jsonl"
    result = agent("trace", "diff", str(golden), "new.jsonl", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.rstrip().endswith("identical apart from times and latencies"), result.stdout
