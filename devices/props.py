"""Device properties given in QEMU's ``-device TYPE,id=NAME,prop=value`` spelling."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from dmamon.memory import ConfigError

__all__ = [
    "DeviceProps",
    "DeviceSpec",
    "Prop",
    "build_props",
    "parse_device_spec",
    "prop",
    "props_of",
]

PropKind = Literal["uint", "bool", "str"]


@dataclass(frozen=True, slots=True)
class Prop:
    """A declared device property.

    Attributes:
        name: QEMU-style name (``dma_mask``).
        kind: ``uint`` (decimal or 0x hex), ``bool`` (on/off/true/false/yes/no) or ``str``.
        default: value when not given.
        doc: one line for ``device_add TYPE,help``.
    """

    name: str
    kind: PropKind
    default: int | bool | str
    doc: str = ""

    def parse(self, text: str) -> int | bool | str:
        """Convert the text of a spec.

        Raises:
            ConfigError: the text is not a valid value of this kind.
        """
        if self.kind == "bool":
            low = text.lower()
            if low in ("on", "true", "yes", "1"):
                return True
            if low in ("off", "false", "no", "0"):
                return False
            raise ConfigError(f"Parameter '{self.name}' expects 'on' or 'off', not {text!r}")
        if self.kind == "uint":
            try:
                v = int(text, 0)
            except ValueError:
                raise ConfigError(
                    f"Parameter '{self.name}' expects an integer, not {text!r}"
                ) from None
            if not 0 <= v < 1 << 64:
                raise ConfigError(f"Parameter '{self.name}' value {text!r} is out of range")
            return v
        return text


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A parsed ``TYPE,id=NAME,key=value,...`` device spec."""

    type_name: str
    id: str | None
    props: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        parts = [self.type_name]
        if self.id is not None:
            parts.append(f"id={self.id}")
        parts += [f"{k}={v}" for k, v in self.props]
        return ",".join(parts)


def parse_device_spec(text: str) -> DeviceSpec:
    """Parse QEMU's ``-device`` option text (``driver=TYPE`` is accepted too).

    Raises:
        ConfigError: empty text, an item without ``=``, or a key given twice.
    """
    items = [p for p in text.strip().split(",")]
    if not items or not items[0]:
        raise ConfigError(f"device spec {text!r}: missing device type")
    type_name: str | None = None
    first = items[0]
    if "=" not in first:
        type_name = first
        items = items[1:]
    dev_id: str | None = None
    props: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in items:
        if "=" not in item:
            raise ConfigError(f"device spec {text!r}: expected key=value, got {item!r}")
        k, v = item.split("=", 1)
        if k in seen:
            raise ConfigError(f"device spec {text!r}: {k!r} given twice")
        seen.add(k)
        if k == "driver" and type_name is None:
            type_name = v
        elif k == "id":
            dev_id = v
        else:
            props.append((k, v))
    if not type_name:
        raise ConfigError(f"device spec {text!r}: missing device type")
    return DeviceSpec(type_name, dev_id, tuple(props))


# --------------------------------------------------------------------------------------------
# Typed properties: one frozen dataclass per device type

_KINDS: dict[object, PropKind] = {"int": "uint", int: "uint", "bool": "bool", bool: "bool"}
_P = TypeVar("_P", bound="DeviceProps")


@dataclass(frozen=True, slots=True)
class DeviceProps:
    """Base of a device type's typed properties.

    Subclass it as a frozen dataclass whose fields are declared with `prop`; the device
    class names it as ``Props`` and reads ``self.properties.<name>`` with its real type.
    The field order is the order ``device_add TYPE,help`` and ``info qtree`` list them.
    """


def prop(default: Any, doc: str = "", name: str | None = None) -> Any:
    """Declare a property field of a `DeviceProps` dataclass.

    Args:
        default: The value when the spec does not give one (its type is the field's).
        doc: One line for ``device_add TYPE,help``.
        name: QEMU's property name when it is not a Python identifier (``device-iotlb``).

    Returns:
        A dataclass field.
    """
    return dataclasses.field(default=default, metadata={"doc": doc, "name": name})


def props_of(cls: type[DeviceProps]) -> tuple[Prop, ...]:
    """The `Prop` declarations a `DeviceProps` dataclass stands for, in field order.

    Raises:
        TypeError: a field is not an int, bool or str with a default.
    """
    out = []
    for f in dataclasses.fields(cls):
        kind = _KINDS.get(f.type, "str" if f.type in ("str", str) else None)
        if kind is None or f.default is dataclasses.MISSING:
            raise TypeError(
                f"{cls.__name__}.{f.name}: a property is an int, bool or str with a default"
            )
        out.append(
            Prop(f.metadata.get("name") or f.name, kind, f.default, f.metadata.get("doc", ""))
        )
    return tuple(out)


def build_props(cls: type[_P], values: Mapping[str, int | bool | str]) -> _P:
    """Build a `DeviceProps` instance from parsed values keyed by QEMU property name.

    Values the dataclass has no field for are ignored (the machine only passes declared ones).
    """
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = f.metadata.get("name") or f.name
        if key in values:
            kwargs[f.name] = values[key]
    return cls(**kwargs)
