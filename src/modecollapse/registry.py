"""Name -> component registries and typed ``key=value`` parameter parsing.

Losses, datasets, techniques and metrics register themselves under short names; the CLI
draws its choices from these registries, so adding a component never means editing the
trainer or the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib
import math
import sys
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import field
from typing import Any, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


@dataclasses.dataclass
class NoParams:
    """The ``Params`` of a component without parameters (a technique, an evaluator, an experiment)."""


class Registry(Generic[T]):
    """A mapping from short names to components, with helpful errors for unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._providers: dict[str, str] = {}  # name -> the module that registers it when imported

    def provided_by(self, name: str, module: str) -> None:
        """Declares that importing ``module`` registers ``name``: a component of a part above
        the registry's owner (the monitor's evaluator in the lab's registry) is imported on
        first use by name, so the owner never imports the part above it."""
        self._providers[name] = module

    def _load(self, name: str | None = None) -> None:
        for n, module in list(self._providers.items()):
            if (name is None or n == name) and n not in self._items:
                importlib.import_module(module)

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj

    def get(self, name: str) -> T:
        if name not in self._items and name in self._providers:
            self._load(name)
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._items, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}{hint}; choose one of: {', '.join(self.names())}."
            ) from None

    def names(self) -> list[str]:
        return list(self._items) + [n for n in self._providers if n not in self._items]

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._providers

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return list(self._items.items())


def option(default: Any = dataclasses.MISSING, *, help: str, factory: Any = dataclasses.MISSING, flag: str = "",
           resume: bool = False) -> Any:
    """A dataclass field with its command-line help (``--help`` text lives here, once).

    ``flag``: the option that sets a field which is not a plain ``--field-name VALUE`` (data,
    lists of techniques ...), for the option-coverage test. ``resume=True``: the option may
    change when a run is resumed (it does not change what was trained so far).
    """
    meta = {"help": help, "flag": flag, "resume": resume}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def convert_value(value: str, typ: Any, key: str, owner: str) -> Any:
    """Converts the command-line string ``value`` to the annotated type ``typ`` (int, float,
    bool, str, a Literal, an Optional of these, or ``tuple[X, ...]`` written ``a,b,c``)."""
    origin = typing.get_origin(typ)
    if origin is tuple:
        args = typing.get_args(typ)
        item = args[0] if args else str
        return tuple(convert_value(v.strip(), item, key, owner) for v in value.split(",") if v.strip())
    if origin is typing.Literal:
        choices = typing.get_args(typ)
        if value not in choices:
            raise ConfigError(
                f"{owner}: {key}={value!r} is not allowed; choose one of: {', '.join(map(str, choices))}."
            )
        return value
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value.lower() in ("none", "null") and len(args) < len(typing.get_args(typ)):
            return None
        return convert_value(value, args[0], key, owner)
    try:
        if typ is bool:
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if typ is int:
            return int(value)
        if typ is float:
            number = float(value)
            if math.isnan(number):
                raise ConfigError(f"{owner}: {key}={value!r} is not a number.")
            return number
        if typ is str:
            return value
    except ValueError:
        raise ConfigError(f"{owner}: {key}={value!r} is not a valid {typ.__name__}.") from None
    raise TypeError(f"unsupported parameter type {typ!r} for {owner}.{key}")


def _type_text(typ: Any) -> str:
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join("null" if a is type(None) else _type_text(a) for a in args)
    if origin in (tuple, list):
        return f"a list (each item {_type_text(args[0])})" if args and args[0] is not Any else "a list"
    if origin is dict:
        return "an object"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(typ, getattr(typ, "__name__", str(typ)))


def json_value(value: Any, typ: Any, key: str, owner: str) -> Any:
    """``value`` as read from a JSON file, checked against the annotated type ``typ`` (int,
    float, bool, str, a Literal, an Optional or union of these, ``tuple[...]``, ``list[X]``,
    ``dict[str, X]``, ``Any``) and returned as that type (an integer for a float field
    becomes a float, a list for a tuple field a tuple); anything else is a
    :class:`ConfigError` naming ``owner`` and ``key``."""
    origin, args = typing.get_origin(typ), typing.get_args(typ)

    def bad() -> ConfigError:
        text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        return ConfigError(f"{owner}: {key} must be {_type_text(typ)}, got {text[:60]}.")

    if typ is Any:
        return value
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return json_value(value, a, key, owner)
            except ConfigError:
                pass
        raise bad()
    if origin is typing.Literal:
        if not any(type(value) is type(a) and value == a for a in args):
            raise bad()
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise bad()
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise bad()
            return tuple(json_value(v, a, f"{key}[{i}]", owner) for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [json_value(v, item, f"{key}[{i}]", owner) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise bad()
        item = args[1] if len(args) == 2 else Any
        return {k: json_value(v, item, f"{key}.{k}", owner) for k, v in value.items()}
    if typ is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if typ is float:  # NaN is no value of any parameter: refused here for all of them
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise bad()
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise bad()
        return value
    return value  # a type JSON cannot hold (a class): the component's own validation judges it


def renamed(cls: type, values: dict[str, Any], owner: str) -> dict[str, Any]:
    """``values`` with the old names a parameter dataclass still accepts (its ``RENAMED``
    mapping, old -> new) replaced by the new ones, each with a one-line notice on stderr."""
    renames = getattr(cls, "RENAMED", {})
    if not any(old in values for old in renames):
        return values
    out = dict(values)
    for old, new in renames.items():
        if old in out:
            if new in out:
                raise ConfigError(f"{owner}: give {new} only ({old} is its old name).")
            sys.stderr.write(f"modecollapse: note: {owner}: {old} is now called {new}; {old} will stop working in a later release.\n")
            out[new] = out.pop(old)
    return out


def params_from_strings(cls: type[T], pairs: dict[str, str], owner: str) -> T:
    """Builds the parameter dataclass ``cls`` from ``{"key": "value"}`` strings.

    Unknown keys and unconvertible values raise :class:`ConfigError` naming the valid keys.
    """
    pairs = renamed(cls, pairs, owner)
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {}
    for key, value in pairs.items():
        if key not in fields:
            valid = ", ".join(sorted(fields)) or "(none)"
            raise ConfigError(f"{owner} has no parameter {key!r}; valid parameters: {valid}.")
        kwargs[key] = convert_value(value, hints[key], key, owner)
    return _construct(cls, kwargs, owner)


def params_from_dict(cls: type[T], values: dict[str, Any], owner: str) -> T:
    """Builds ``cls`` from already-typed JSON values (as stored in ``config.json``), each
    checked against its field's type (:func:`json_value`)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{owner}: its parameters must be an object of key: value pairs, got {type(values).__name__}.")
    values = renamed(cls, values, owner)
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - fields
    if unknown:
        valid = ", ".join(sorted(fields)) or "(none)"
        raise ConfigError(f"{owner} has no parameter {sorted(unknown)[0]!r}; valid parameters: {valid}.")
    hints = typing.get_type_hints(cls)
    return _construct(cls, {k: json_value(v, hints[k], k, owner) for k, v in values.items()}, owner)


def _construct(cls: type[T], kwargs: dict[str, Any], owner: str) -> T:
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ConfigError as err:
            raise ConfigError(f"{owner}: {err}") from None
    return obj


def parse_pairs(text: str, owner: str) -> dict[str, str]:
    """Parses ``"a=1,b=2"`` into ``{"a": "1", "b": "2"}``; an empty string gives ``{}``."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise ConfigError(f"{owner}: {part!r} is not of the form key=value.")
        key, value = part.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key:
            raise ConfigError(f"{owner}: {part!r} has an empty key; write key=value.")
        out[key] = value.strip()
    return out


def describe_params(cls: type) -> str:
    """``"m=4, where='d'"``: the parameters of a dataclass with their defaults, for --help."""
    parts = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else "?"
        parts.append(f"{f.name}={default}")
    return ", ".join(parts)


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` (PEP 562) that import ``exports[name]``
    (a submodule, relative to ``package``) when ``name`` is first read, so importing the
    package (and ``modecollapse --help``) does not import the trainer or the models."""
    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{where}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__


# -- command-line options from a dataclass's fields ---------------------------------------------
def flag_of(field: dataclasses.Field) -> str:
    """The option of a dataclass field: its ``flag`` metadata, else ``--field-name``."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _scalar_type(typ: Any) -> type | None:
    """int / float / str for a field annotated with one of them (or an Optional of one); str
    for a Literal of strings (the value is checked where the field's owner validates it)."""
    args = [a for a in typing.get_args(typ) if a is not type(None)]
    if typ in (int, float, str):
        return typ
    if typing.get_origin(typ) is typing.Literal and all(isinstance(a, str) for a in args):
        return str
    if len(args) == 1 and args[0] in (int, float, str):
        return args[0]
    return None


def plain_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` that are one ``--option VALUE`` each (no ``flag`` metadata)."""
    hints = typing.get_type_hints(cls)
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("flag") and _scalar_type(hints[f.name])]


def add_field_options(group: Any, cls: type, *, exclude: Iterable[str] = (), shown: Any = None,
                      prefix: str = "") -> list[str]:
    """Adds ``--[prefix-]field-name VALUE`` (destination ``[prefix_]field_name``) for every
    plain field of ``cls``, help from the field's ``help`` metadata and the default from
    ``shown`` or the class; returns the destinations added."""
    hints = typing.get_type_hints(cls)
    defaults = shown if shown is not None else cls()
    added = []
    for f in plain_fields(cls):
        if f.name in exclude:
            continue
        dest = f"{prefix}_{f.name}" if prefix else f.name
        flag = "--" + dest.replace("_", "-") if prefix else flag_of(f)
        default = getattr(defaults, f.name)
        text = default if not isinstance(default, float) else round(default, 6)
        text = "auto" if default is None else text
        typ = _scalar_type(hints[f.name])
        choices = f"one of {', '.join(typing.get_args(hints[f.name]))}; " if typing.get_origin(hints[f.name]) is typing.Literal else ""
        group.add_argument(flag, dest=dest, type=typ, default=None, metavar="N" if typ in (int, float) else "VALUE",
                           help=f"{f.metadata.get('help', '')} ({choices}default {text})")
        added.append(dest)
    return added


def field_values(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The values given on the command line for ``names`` (options left out are absent)."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
