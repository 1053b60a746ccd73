"""A faster ``__init__`` for the frozen slotted dataclasses made once per message.

A frozen dataclass stores each field with ``object.__setattr__(self, name, value)``, which
looks the slot up by name every time: for ``Message`` and ``Send`` (one or two per request
on the registrar's hot path) that is most of their cost. ``quick_init`` gives such a class an
``__init__`` with the same signature that stores through the slot descriptors directly; the
class stays frozen (assignment still raises), comparable, hashable and a dataclass.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

T = TypeVar("T")


def quick_init(cls: type[T]) -> type[T]:
    """Replace the ``__init__`` of frozen, slotted dataclass ``cls`` (plain defaults only)."""
    params = dataclasses.fields(cls)  # type: ignore[arg-type]
    frozen = cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    if not all(frozen and f.init
               and f.default_factory is dataclasses.MISSING for f in params):
        raise TypeError(f"{cls.__name__}: not a frozen dataclass with plain fields")
    scope = {f"_set_{f.name}": getattr(cls, f.name).__set__ for f in params}
    scope.update({f"_default_{f.name}": f.default for f in params
                  if f.default is not dataclasses.MISSING})
    signature = ", ".join(f.name if f.default is dataclasses.MISSING
                          else f"{f.name}=_default_{f.name}" for f in params)
    body = "".join(f"    _set_{f.name}(self, {f.name})\n" for f in params)
    exec(f"def __init__(self, {signature}):\n{body}", scope)  # a fixed template of field names
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
