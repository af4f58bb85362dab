"""The agent state and its hash."""

from __future__ import annotations

import subprocess
import sys

from agent.state import AgentState, History, canonical, chain_digest

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "add 2 and 3"}]


class TestHistory:
    def test_incremental_digest_equals_digest_from_scratch(self) -> None:
        """Growing a history one message at a time gives the digest of the whole list."""
        history = History()
        for i in range(50):
            history = history.append({"role": "user", "content": f"message {i}", "n": i})
            assert history.digest() == chain_digest(list(history))

    def test_older_history_is_unchanged_by_later_appends(self) -> None:
        """Appending returns a new history; the one appended to keeps its messages and digest."""
        base = History(MESSAGES)
        digest = base.digest()
        longer = base.append({"role": "assistant", "content": "5"})
        assert len(base) == 2 and base.digest() == digest
        assert list(longer) == [*MESSAGES, {"role": "assistant", "content": "5"}]

    def test_appending_to_an_older_history_forks_it(self) -> None:
        """Two histories grown from the same point each keep their own last message."""
        base = History(MESSAGES)
        left = base.append({"role": "assistant", "content": "left"})
        right = base.append({"role": "assistant", "content": "right"})
        assert left[-1]["content"] == "left" and right[-1]["content"] == "right"
        assert left.digest() == chain_digest(list(left)) and right.digest() == chain_digest(list(right))
        assert left.continues(base) and not right.continues(left)  # a fork no longer shares storage


class TestStateHash:
    def test_same_state_hashes_the_same_whatever_the_key_order(self) -> None:
        """Canonical encoding sorts keys, so dict order does not change the hash."""
        a = AgentState(History(MESSAGES)).update_memory({"x": 1, "y": {"b": 2, "a": 1}})
        b = AgentState(History(MESSAGES)).update_memory({"y": {"a": 1, "b": 2}, "x": 1})
        assert a.hash() == b.hash()

    def test_any_field_change_changes_the_hash(self) -> None:
        """Memory, messages, step, done and answer all enter the hash."""
        state = AgentState(History(MESSAGES))
        variants = [
            state.update_memory({"x": 1}),
            state.add_messages({"role": "assistant", "content": "5"}),
            AgentState(state.messages, step=1),
            AgentState(state.messages, done=True),
            AgentState(state.messages, answer="5"),
        ]
        hashes = {state.hash(), *(v.hash() for v in variants)}
        assert len(hashes) == 1 + len(variants)

    def test_hash_is_stable_across_processes(self) -> None:
        """Another Python process, with another hash seed, computes the same state hash."""
        code = (
            "from agent.state import AgentState, History;"
            f"s = AgentState(History({MESSAGES!r})).update_memory({{'total': 3949.74, 'n': 4}});"
            "print(s.hash())"
        )
        state = AgentState(History(MESSAGES)).update_memory({"total": 3949.74, "n": 4})
        for seed in ("1", "2"):
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": seed})
            assert out.stdout.strip() == state.hash()

    def test_memory_update_with_none_deletes_the_key(self) -> None:
        """A None value in a memory update removes the key."""
        state = AgentState().update_memory({"a": 1, "b": 2}).update_memory({"a": None})
        assert dict(state.memory) == {"b": 2}


class TestCanonical:
    def test_string_keys_encode_as_with_non_string_keys_allowed(self) -> None:
        """The fast encoding (string keys only) gives the bytes of the mode that also takes other keys."""
        import orjson

        value = {"b": [1, {"y": 2.5, "x": None}], "a": {"é": "ü", "c": True}}
        assert canonical(value) == orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)

    def test_memory_with_non_string_keys_still_hashes(self) -> None:
        """A tool may store an int key: it hashes as its string form, as it reads back from a trace."""
        assert AgentState(memory={1: "x"}).hash() == AgentState(memory={"1": "x"}).hash()
