"""Frozen dataclasses that are cheap to build.

The loop builds about eight frozen records a step (request, response, tool call and result, usage,
state, step). A frozen dataclass's generated ``__init__`` sets each field with
``object.__setattr__(self, name, value)``, a lookup by name per field: building them took ~4 of
the ~10 µs of a bare loop step on bench_peers.py's workload (timeit, 2026-11-26). ``fast_init``
gives such a class an ``__init__`` that writes each slot through its descriptor instead, ~1.5x
faster; everything else (fields, defaults, equality, hashing, repr, immutability) stays the
dataclass's own.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T", bound=type)


def fast_init(cls: T) -> T:
    """Replace the ``__init__`` of a frozen, slotted dataclass by one that sets its slots directly."""
    params = getattr(cls, "__dataclass_params__", None)
    if not is_dataclass(cls) or params is None or not params.frozen or not hasattr(cls, "__slots__") or hasattr(cls, "__post_init__"):
        msg = f"fast_init is for frozen, slotted dataclasses without __post_init__; {cls.__name__} is not one"
        raise TypeError(msg)
    names: dict[str, Any] = {"MISSING": MISSING}
    signature, body = ["self"], []
    for f in fields(cls):
        if not f.init or f.kw_only is True:
            msg = f"fast_init does not handle init=False or keyword-only fields ({cls.__name__}.{f.name})"
            raise TypeError(msg)
        names[f"set_{f.name}"] = cls.__dict__[f.name].__set__  # the slot's member descriptor
        value = f.name
        if f.default is not MISSING:
            names[f"default_{f.name}"] = f.default
            signature.append(f"{f.name}=default_{f.name}")
        elif f.default_factory is not MISSING:
            names[f"factory_{f.name}"] = f.default_factory
            signature.append(f"{f.name}=MISSING")
            value = f"factory_{f.name}() if {f.name} is MISSING else {f.name}"
        else:
            signature.append(f.name)
        body.append(f"    set_{f.name}(self, {value})\n")
    exec(f"def __init__({', '.join(signature)}):\n{''.join(body) or '    pass'}\n", names)  # noqa: S102 - our own field names
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init
    return cls
