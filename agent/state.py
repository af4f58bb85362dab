"""The agent's state and its stable hash.

The state hash is a function of the state alone, but computing it must not cost more as the
history grows: the message history is an append-only log whose chain digest is extended one
message at a time, so each message is encoded and hashed once per run, however often the state
is hashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, overload

import orjson

from agent.frozen import fast_init

Message = dict[str, Any]
"""A chat message in the OpenAI shape: ``role``, ``content``, and ``tool_calls`` or ``tool_call_id``."""

_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON: sorted keys, orjson's stable number formatting."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a key that is not a string: orjson's slower mode (same bytes otherwise) writes it as one
        return orjson.dumps(value, option=_CANONICAL)


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


_sha256 = hashlib.sha256
EMPTY_DIGEST = _sha256(b"").digest()
"""The chain digest of no messages."""


def extend_digest(digest: bytes, message: Message) -> bytes:
    """The chain digest of a message list one message longer: sha256(digest + sha256(canonical(message)))."""
    return _sha256(digest + _sha256(canonical(message)).digest()).digest()


def chain_digest(messages: Sequence[Message]) -> str:
    """The digest of a message list, as ``History.digest`` computes it, from scratch."""
    digest = EMPTY_DIGEST
    for message in messages:
        digest = extend_digest(digest, message)
    return digest.hex()


class _Log:
    """Storage shared by every History cut from it: messages and their running chain digests."""

    __slots__ = ("items", "digests")

    def __init__(self, items: list[Message]) -> None:
        self.items = items
        self.digests = [EMPTY_DIGEST]  # digests[n] covers items[:n]; extended lazily

    def digest(self, n: int) -> bytes:
        digests = self.digests
        if n < len(digests):
            return digests[n]
        digest, items = digests[-1], self.items
        for index in range(len(digests) - 1, n):
            digest = extend_digest(digest, items[index])
            digests.append(digest)
        return digest


class History(Sequence[Message]):
    """An immutable message history.

    ``append`` returns a longer History that shares storage with this one, so keeping every
    step's history costs nothing, and ``digest`` is incremental. Messages must not be mutated
    once appended.
    """

    __slots__ = ("_log", "_n")

    def __init__(self, messages: Sequence[Message] = ()) -> None:
        self._log = _Log(list(messages))
        self._n = len(self._log.items)

    @classmethod
    def _cut(cls, log: _Log, n: int) -> History:
        history = cls.__new__(cls)
        history._log, history._n = log, n
        return history

    def append(self, *messages: Message) -> History:
        """This history with ``messages`` added at the end."""
        log = self._log
        if len(log.items) != self._n:  # a longer history already grew from this one: fork
            log = _Log(log.items[: self._n])
            log.digests = self._log.digests[: self._n + 1]
        log.items.extend(messages)
        return History._cut(log, self._n + len(messages))

    def digest(self) -> str:
        """Chain digest of the messages (equal to ``chain_digest(list(self))``)."""
        return self._log.digest(self._n).hex()

    def continues(self, earlier: History) -> bool:
        """Whether ``earlier`` is a prefix of this history sharing its storage (cheap, O(1))."""
        return earlier._log is self._log and earlier._n <= self._n

    def since(self, earlier: History) -> list[Message]:
        """The messages added after ``earlier``, which this history must continue."""
        return self._log.items[earlier._n : self._n]

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> Message: ...
    @overload
    def __getitem__(self, index: slice) -> list[Message]: ...
    def __getitem__(self, index: int | slice) -> Message | list[Message]:
        if isinstance(index, slice):
            return self._log.items[: self._n][index]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError("history index out of range")
        return self._log.items[index]

    def __iter__(self) -> Iterator[Message]:
        items = self._log.items
        return (items[i] for i in range(self._n))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, History):
            return self._n == other._n and self.digest() == other.digest()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.digest())

    def __repr__(self) -> str:
        return f"History({self._n} messages, digest={self.digest()[:12]})"


_NO_MEMORY: Mapping[str, Any] = MappingProxyType({})


@fast_init
@dataclass(frozen=True, slots=True)
class AgentState:
    """Everything that determines what the agent does next. Immutable: updates make a new state."""

    messages: History = field(default_factory=History)
    """The conversation so far, system prompt and task included."""
    memory: Mapping[str, Any] = field(default_factory=lambda: _NO_MEMORY)
    """The agent's scratch memory, changed only by updates that tools return."""
    step: int = 0
    """How many loop steps have completed."""
    done: bool = False
    """Whether the agent has given its final answer."""
    answer: str | None = None
    """The final answer, once done."""

    def add_messages(self, *messages: Message) -> AgentState:
        """This state with ``messages`` appended to the history."""
        # The constructor, not dataclasses.replace: this runs at least twice a step (replace costs ~3x more).
        return AgentState(self.messages.append(*messages), self.memory, self.step, self.done, self.answer)

    def update_memory(self, update: Mapping[str, Any]) -> AgentState:
        """This state with ``update`` applied to memory: each key is set, and a None value deletes it."""
        return AgentState(self.messages, with_update(self.memory, update), self.step, self.done, self.answer) if update else self

    def summary(self) -> dict[str, Any]:
        """The state as plain data, with the message history stood in for by its length and digest."""
        return {
            "answer": self.answer,
            "done": self.done,
            "memory": plain_copy(self.memory),
            "messages": {"count": len(self.messages), "digest": self.messages.digest()},
            "step": self.step,
        }

    def hash(self) -> str:
        """Stable sha256 of the state: same state, same hash, in any process on any machine."""
        return summary_hash(self.summary())


def with_update(memory: Mapping[str, Any], update: Mapping[str, Any]) -> Mapping[str, Any]:
    """The read-only memory after ``update`` (``memory`` itself when there is none to apply)."""
    return MappingProxyType(updated_memory(memory, update)) if update else memory


def plain_copy(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A dict copy of ``mapping``; of a dict or a read-only view of one, at C speed (``dict(view)`` is ~10x slower)."""
    if type(mapping) is MappingProxyType or type(mapping) is dict:
        copied = mapping.copy()
        if type(copied) is dict:
            return copied
    return dict(mapping)


def apply_update(memory: dict[str, Any], update: Mapping[str, Any]) -> None:
    """Apply ``update`` to ``memory`` in place: each key is set, and a None value deletes it."""
    for key, value in update.items():
        if value is None:
            memory.pop(key, None)
        else:
            memory[key] = value


def updated_memory(memory: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``memory`` with ``update`` applied (see ``apply_update``), as a new dict."""
    result = plain_copy(memory)
    apply_update(result, update)
    return result


def summary_hash(summary: Mapping[str, Any]) -> str:
    """The state hash from a state's ``summary()``, for callers that already hold the summary."""
    return sha256_hex(canonical(summary))
