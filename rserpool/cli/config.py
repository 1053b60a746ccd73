"""Settings from a TOML file and command-line flags, into a dataclass.

The TOML keys and the ``--flag-names`` are the dataclass field names (``-`` for ``_`` on the
command line); flags win over the file, the file over the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting is unknown or has the wrong type."""


def _scalar_type(tp: Any) -> Any:
    """The concrete type of an annotation: ``int | None`` -> int, ``tuple[str, ...]`` -> tuple."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _scalar_type(args[0])
    return origin or tp


def _coerce(name: str, tp: Any, value: Any) -> Any:
    kind = _scalar_type(tp)
    if kind is tuple or kind is list:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name}: expected a list, got {value!r}")
        return kind(value)
    if kind is bool:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}: expected true/false, got {value!r}")
    if kind is float and isinstance(value, int | float | str):
        return float(value)
    if kind is int and isinstance(value, int | str) and not isinstance(value, bool):
        return int(value, 0) if isinstance(value, str) else value
    if kind is str and isinstance(value, str):
        return value
    raise ConfigError(f"{name}: expected {getattr(kind, '__name__', kind)}, got {value!r}")


def build(cls: type[T], file_values: dict[str, Any], flag_values: dict[str, Any]) -> T:
    """Make ``cls`` from defaults, then ``file_values``, then ``flag_values`` (None = unset)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(file_values) - names
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    merged = {k: v for k, v in file_values.items()}
    merged.update({k: v for k, v in flag_values.items() if v is not None and k in names})
    return cls(**{k: _coerce(k, hints[k], v) for k, v in merged.items()})


def load_toml(path: str | Path | None, section: str) -> dict[str, Any]:
    """The table ``[section]`` of a TOML file (all top-level keys if there is no such table)."""
    if path is None:
        return {}
    with open(path, "rb") as f:
        data = tomllib.load(f)
    table = data.get(section, data)
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table")
    return table


def add_flags(
    parser: argparse.ArgumentParser, cls: type, skip: frozenset[str] = frozenset()
) -> None:
    """Add ``--field-name`` for every field of ``cls`` (all default to None = not given)."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        doc = f.metadata.get("help", "") if f.metadata else ""
        default = f.default if f.default is not dataclasses.MISSING else None
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            default=None,
            metavar=f.name.upper(),
            help=f"{doc} (default: {default})".strip(),
        )
