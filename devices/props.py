"""Device properties given in QEMU's ``-device TYPE,id=NAME,prop=value`` spelling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dmamon.memory import ConfigError

__all__ = ["DeviceSpec", "Prop", "parse_device_spec"]

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
