"""Options dataclasses as config sections and command-line flags (the tuned-lens ingredients idea):
one frozen dataclass per stage holds each option's default and help text; these helpers check a
YAML mapping against it and turn its fields into argparse flags, so the two never disagree.

Supported field types: int, float, str, bool, ``X | None``, ``tuple[X, ...]``, ``list[X]``,
``Literal[...]`` and unions of these (e.g. ``str | list[str]``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from typing import Any, Literal, Union

import yaml

from pivotlens.errors import ConfigError


class _ConfigLoader(yaml.SafeLoader):
    """Safe YAML without aliases: a few hundred bytes of nested aliases (an alias bomb) would expand
    to gigabytes, and a config has no need of them."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ConfigError(f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not allowed "
                              "in a pivotlens config; write the value out")
        return super().compose_node(parent, index)


def load_yaml(text: str, source: str) -> Any:
    """A config file's (or a --set value's) YAML, safely; errors name ``source``."""
    try:
        return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML ({' '.join(str(error).split())})") from None


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(value: Any) -> str:
    """YAML that ``load_yaml`` reads back: shared objects are written out, never as aliases."""
    return yaml.dump(value, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True)

_MISSING = object()


def option(default: Any, help: str) -> Any:
    """A dataclass field with a default (immutable: the dataclasses are frozen) and its flag's help text."""
    return dataclasses.field(default=default, metadata={"help": help})


def _alternatives(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(annotation)))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    if origin in (tuple, list):
        item = typing.get_args(annotation)[0]
        plural = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
        return f"a list of {plural[item]}" if item in plural else f"a list (each {_describe(item)})"
    return {int: "an integer", float: "a finite number", str: "a string", bool: "true or false",
            type(None): "null"}[annotation]


def _convert(annotation: Any, value: Any) -> Any:
    """``value`` as ``annotation`` wants it (lists become tuples for tuple fields), or _MISSING."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        for alternative in typing.get_args(annotation):
            converted = _convert(alternative, value)
            if converted is not _MISSING:
                return converted
        return _MISSING
    if origin is Literal:
        return value if value in typing.get_args(annotation) else _MISSING
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return _MISSING
        items = [_convert(typing.get_args(annotation)[0], item) for item in value]
        return _MISSING if _MISSING in items else origin(items)
    if annotation is type(None):
        return value if value is None else _MISSING
    if annotation is bool:
        return value if isinstance(value, bool) else _MISSING
    if annotation is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISSING
    if annotation is float:
        if isinstance(value, str):  # YAML 1.1 reads `1e-3` (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                return _MISSING
        # NaN and infinity are no setting of any option (`--lr nan` would train to NaN weights)
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        return value if numeric and math.isfinite(value) else _MISSING
    if annotation is str:
        return value if isinstance(value, str) else _MISSING
    raise TypeError(f"options field type {annotation!r} is not supported")


def parse_options(cls: type, mapping: Any, section: str = "") -> Any:
    """An instance of ``cls`` from a config mapping (the config's ``section``, "" for the top level);
    unknown keys and wrong types raise ConfigError naming ``section.key``."""
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict):
        raise ConfigError(f"{section}: expected a mapping of options, got {mapping!r}")
    annotations = typing.get_type_hints(cls)
    values = {}
    for key, value in mapping.items():
        name = f"{section}.{key}" if section else key
        if key not in annotations:
            raise ConfigError(f"{name}: unknown option (allowed: {', '.join(sorted(annotations))})")
        converted = _convert(annotations[key], value)
        if converted is _MISSING:
            raise ConfigError(f"{name}: expected {_describe(annotations[key])}, got {value!r}")
        values[key] = converted
    return cls(**values)


def options_dict(options: Any) -> dict:
    """The options as a YAML-ready mapping (tuples as lists)."""
    def plain(value: Any) -> Any:
        return [plain(v) for v in value] if isinstance(value, (tuple, list)) else value

    return {f.name: plain(getattr(options, f.name)) for f in dataclasses.fields(options)}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _scalar_type(annotation: Any) -> tuple[Any, bool]:
    """(the argparse type of one value, whether the flag takes a list) for a non-bool field."""
    alternatives = [a for a in _alternatives(annotation) if a is not type(None)]
    sequence = [a for a in alternatives if typing.get_origin(a) in (tuple, list)]
    if sequence:
        return typing.get_args(sequence[0])[0], True
    return alternatives[0], False


def add_option_flags(parser: argparse.ArgumentParser, cls: type, only: tuple[str, ...] | None = None,
                     required: tuple[str, ...] = ()) -> None:
    """One flag per field (``batch_size`` → ``--batch-size``) with the field's default and help;
    ``only`` picks fields, ``required`` makes fields' flags mandatory on the command line."""
    annotations = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if only is not None and field.name not in only:
            continue
        annotation = annotations[field.name]
        default = field.default
        help_text = field.metadata["help"].replace("%", "%%")  # argparse formats help with %
        if annotation is bool:
            parser.add_argument(_flag(field.name), action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
            continue
        value_type, many = _scalar_type(annotation)
        kwargs: dict[str, Any] = {"help": help_text, "dest": field.name}
        if field.name in required:
            kwargs["required"] = True
        else:
            kwargs["default"] = default
        if typing.get_origin(value_type) is Literal:
            kwargs["choices"] = typing.get_args(value_type)
            value_type = type(kwargs["choices"][0])
        parser.add_argument(_flag(field.name), type=value_type, nargs="+" if many else None, **kwargs)


def options_from_args(cls: type, args: argparse.Namespace) -> Any:
    """An instance of ``cls`` from the flags of :func:`add_option_flags`; fields without a flag (see
    ``only``) keep their default."""
    annotations = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if hasattr(args, field.name):
            value = getattr(args, field.name)
            values[field.name] = _convert(annotations[field.name], value) if isinstance(value, list) else value
    return cls(**values)
