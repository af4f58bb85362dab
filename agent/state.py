"""The agent's state and its stable hash.

The state hash is a function of the state alone, but computing it must cost what the step changed,
not what the state holds. Its construction (trace schema version 3):

- messages: the history is an append-only log whose chain digest is extended one message at a time,
  ``d(n+1) = sha256(d(n) + sha256(canonical(message n)))`` from ``d(0) = sha256(b"")``, so each
  message is encoded and hashed once per run, however often the state is hashed;
- memory: each key has its own digest, ``sha256(canonical({key: value}))`` read as a 256-bit
  big-endian integer, and the memory's digest is the sum of its keys' digests modulo 2**256 (32
  bytes, big-endian; 0 for no memory). A sum does not depend on key order, and an update changes it
  by the digests of the keys it touches only (subtract the old key's, add the new one's), so a step
  that sets one key re-hashes that key, whatever else memory holds. Memory is a ``Memory``, a
  persistent map (``immutables.Map``, a HAMT): an update shares storage with the memory it came
  from, so applying it is O(change) too;
- the state: ``sha256(canonical({"answer", "done", "memory": memory digest hex, "messages":
  {"count", "digest"}, "step"}))``.

Digests are worked out only once something asks for one (a trace writer, a replay): a run that is
not recorded never hashes. After that, each memory derived from a hashed one carries its digest
forward as it is made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, overload

import immutables
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
_dumps, _SORT_KEYS = orjson.dumps, orjson.OPT_SORT_KEYS
EMPTY_DIGEST = _sha256(b"").digest()
"""The chain digest of no messages."""


def extend_digest(digest: bytes, message: Message) -> bytes:
    """The chain digest of a message list one message longer: sha256(digest + sha256(canonical(message)))."""
    try:  # canonical(), written out: this runs for every message of a recorded or replayed run
        data = _dumps(message, option=_SORT_KEYS)
    except TypeError:
        data = canonical(message)
    return _sha256(digest + _sha256(data).digest()).digest()


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

    __slots__ = ("_log", "_n", "_hex")

    def __init__(self, messages: Sequence[Message] = ()) -> None:
        self._log = _Log(list(messages))
        self._n = len(self._log.items)
        self._hex: str | None = None

    @classmethod
    def _cut(cls, log: _Log, n: int) -> History:
        history = cls.__new__(cls)
        history._log, history._n, history._hex = log, n, None
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
        digest = self._hex
        if digest is None:  # a step's history is digested by its state hash, its record and the next request: once
            digest = self._hex = self._log.digest(self._n).hex()
        return digest

    def continues(self, earlier: History) -> bool:
        """Whether ``earlier`` is a prefix of this history sharing its storage (cheap, O(1))."""
        return earlier._log is self._log and earlier._n <= self._n

    def since(self, earlier: History) -> list[Message]:
        """The messages added after ``earlier``, which this history must continue."""
        return self._log.items[earlier._n : self._n]

    def tail(self, start: int) -> list[Message]:
        """The messages from index ``start`` on (copying only those: ``self[start:]`` copies the whole history)."""
        return self._log.items[start : self._n]

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


_MODULUS = 1 << 256
_from_bytes = int.from_bytes
_NO_DIGESTS = immutables.Map()


def entry_digest(key: Any, value: Any) -> int:
    """The digest of one memory key and its value, as a 256-bit integer: sha256(canonical({key: value}))."""
    try:  # canonical(), written out: this runs for every key an update sets
        data = _dumps({key: value}, option=_SORT_KEYS)
    except TypeError:
        data = canonical({key: value})
    return _from_bytes(_sha256(data).digest(), "big")


class Memory(Mapping[str, Any]):
    """The agent's memory: a read-only mapping whose updates cost O(change) and whose digest is incremental.

    ``updated`` returns a new Memory that shares storage with this one (``immutables.Map``). Once
    ``digest`` has been asked of a Memory, every Memory updated from it works out its own digest as
    it is made, from this one's and the keys the update touches (see the module docstring).
    """

    __slots__ = ("_map", "_digests", "_sum", "_made_by")

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        if type(items) is Memory:
            self._map = items._map
        else:
            self._map = immutables.Map(items if type(items) is dict else (items or {}).items())
        self._digests: immutables.Map | None = None  # key -> entry_digest, once a digest was asked for
        self._sum = 0
        self._made_by: tuple[int, Mapping[str, Any]] | None = None

    @classmethod
    def _made(cls, mapping: immutables.Map, digests: immutables.Map | None, total: int, made_by: tuple[int, Mapping[str, Any]] | None) -> Memory:
        memory = cls.__new__(cls)
        memory._map, memory._digests, memory._sum, memory._made_by = mapping, digests, total, made_by
        return memory

    def __getitem__(self, key: Any) -> Any:
        return self._map[key]

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def get(self, key: Any, default: Any = None) -> Any:
        return self._map.get(key, default)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __repr__(self) -> str:
        return f"Memory({dict(self._map)!r})"

    def updated(self, update: Mapping[str, Any]) -> Memory:
        """This memory with ``update`` applied: each key is set, and a None value deletes it."""
        mapping, digests, total = self._map, self._digests, self._sum
        for key, value in update.items():  # most updates set one key: set and delete beat a mutation's set-up
            if value is None:
                if key in mapping:
                    mapping = mapping.delete(key)
            else:
                mapping = mapping.set(key, value)
            if digests is not None:  # this memory was hashed: carry the digest forward, key by key
                old = digests.get(key)
                if old is not None:
                    total -= old
                    if value is None:
                        digests = digests.delete(key)
                if value is not None:
                    entry = entry_digest(key, value)
                    digests = digests.set(key, entry)
                    total += entry
        # What it was made from, by digest (the memory itself is not kept: a run's memories would chain): see follows.
        return Memory._made(mapping, digests, total % _MODULUS, None if digests is None else (self._sum, update))

    def _digested(self) -> immutables.Map:
        digests = self._digests
        if digests is not None:
            return digests
        if not self._map:
            return _NO_DIGESTS  # and the shared empty memory stays unhashed: it must not turn hashing on for every run
        total = 0
        with _NO_DIGESTS.mutate() as changing:
            for key, value in self._map.items():
                changing[key] = entry = entry_digest(key, value)
                total += entry
            digests = changing.finish()
        self._digests, self._sum = digests, total % _MODULUS
        return digests

    def digest(self) -> bytes:
        """The memory's digest: the sum of its keys' digests modulo 2**256, as 32 big-endian bytes."""
        self._digested()
        return self._sum.to_bytes(32, "big")

    def digest_hex(self) -> str:
        """``digest()`` in hex (64 digits)."""
        if self._digests is None:
            self._digested()
        return self._sum.to_bytes(32, "big").hex()  # 64 digits; ~2x faster than formatting the int

    def follows(self, earlier: Memory, updates: Sequence[Mapping[str, Any]]) -> bool:
        """Whether this memory is ``earlier`` with ``updates`` applied in order, judged by digests in O(change)."""
        if len(updates) == 1:
            final = updates[0]
            made_by = self._made_by
            # Made by ``updated`` from a memory of the same digest, with this very update: what the loop
            # does each step. (A trace writer asks this every step: ~0.4 µs saved.)
            if made_by is not None and made_by[1] is final and earlier._digests is not None and made_by[0] == earlier._sum:
                return True
        else:
            final = {}
            for update in updates:
                final.update(update)
        ours, theirs = self._digested(), earlier._digested()
        mapping, total = self._map, earlier._sum
        for key, value in final.items():
            total -= theirs.get(key, 0)
            if value is None:
                if key in mapping:
                    return False
                continue
            entry = ours.get(key)
            if entry is None:
                return False
            # The same object is the common case (the loop applied this very update): no need to hash it again.
            if mapping[key] is not value and entry != entry_digest(key, value):
                return False
            total += entry
        return total % _MODULUS == self._sum


def as_memory(mapping: Mapping[str, Any]) -> Memory:
    """``mapping`` as a Memory (itself when it is one)."""
    return mapping if type(mapping) is Memory else Memory(mapping)


_NO_MEMORY = Memory()


@fast_init
@dataclass(frozen=True, slots=True)
class AgentState:
    """Everything that determines what the agent does next. Immutable: updates make a new state."""

    messages: History = field(default_factory=History)
    """The conversation so far, system prompt and task included."""
    memory: Mapping[str, Any] = field(default_factory=lambda: _NO_MEMORY)
    """The agent's scratch memory, changed only by updates that tools return (a Memory once updated)."""
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
        """Stable sha256 of the state: same state, same hash, in any process on any machine (see the module docstring)."""
        memory, messages = self.memory, self.messages
        memory = (memory if type(memory) is Memory else Memory(memory)).digest_hex()
        return _state_hash(self.answer, self.done, memory, len(messages), messages.digest(), self.step)


def _state_hash(answer: Any, done: bool, memory: str, count: int, digest: str, step: int) -> str:
    # Keys in sorted order and only strings, numbers, bools and null: orjson's plain output is the canonical form.
    fields = {"answer": answer, "done": done, "memory": memory, "messages": {"count": count, "digest": digest}, "step": step}
    return _sha256(_dumps(fields) if answer is None or type(answer) is str else canonical(fields)).hexdigest()


def with_update(memory: Mapping[str, Any], update: Mapping[str, Any]) -> Mapping[str, Any]:
    """The read-only memory after ``update`` (``memory`` itself when there is none to apply)."""
    return as_memory(memory).updated(update) if update else memory


def plain_copy(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A dict copy of ``mapping``; of a dict or a read-only view of one, at C speed (``dict(view)`` is ~10x slower)."""
    if type(mapping) is Memory:
        return dict(mapping._map.items())
    if type(mapping) is MappingProxyType or type(mapping) is dict:
        copied = mapping.copy()
        if type(copied) is dict:
            return copied
    return dict(mapping)


def summary_hash(summary: Mapping[str, Any]) -> str:
    """The state hash from a state's ``summary()`` (O(memory): ``AgentState.hash`` is the incremental one)."""
    messages = summary["messages"]
    memory = Memory(summary["memory"]).digest_hex()
    return _state_hash(summary["answer"], summary["done"], memory, messages["count"], messages["digest"], summary["step"])
