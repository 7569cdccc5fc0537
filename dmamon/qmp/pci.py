"""``query-pci`` with QEMU 7.2's reply layout (``hw/pci/pci-hmp-cmds.c``' QMP twin,
``qmp_query_pci`` in ``hw/pci/pci.c``), checked against ``qemu-system-x86_64 -M q35``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmamon.devices.pci import BAR_UNMAPPED, CLASS_DESCRIPTIONS, INTERRUPT_LINE
from dmamon.qmp.base import JsonValue
from dmamon.qmp.commands import Args, qmp_command

if TYPE_CHECKING:
    from dmamon.devices import PciDevice
    from dmamon.devices.pci import PciBus
    from dmamon.qmp.session import QmpSession

__all__: list[str] = []


def _word(cfg: bytes | bytearray, off: int) -> int:
    return int.from_bytes(cfg[off : off + 2], "little")


def _long(cfg: bytes | bytearray, off: int) -> int:
    return int.from_bytes(cfg[off : off + 4], "little")


def _regions(d: PciDevice) -> list[JsonValue]:
    out: list[JsonValue] = []
    for idx in sorted(d.bars):
        bar = d.bars[idx]
        addr = -1 if bar.addr == BAR_UNMAPPED else bar.addr
        if bar.is_io:
            out.append({"bar": idx, "type": "io", "address": addr, "size": bar.size})
        else:
            out.append(
                {
                    "bar": idx,
                    "type": "memory",
                    "address": addr,
                    "size": bar.size,
                    "prefetch": bool(bar.prefetch),
                    "mem_type_64": bool(bar.is_64),
                }
            )
    return out


def _bridge(d: PciDevice) -> dict[str, JsonValue]:
    """PciBridgeInfo: the window registers as pci_bridge_get_base/limit read them."""
    c = d.config
    io_base = (c[0x1C] & 0xF0) << 8
    io_limit = ((c[0x1D] & 0xF0) << 8) | 0xFFF
    if c[0x1C] & 0x0F == 0x01:  # 32-bit I/O window
        io_base |= _word(c, 0x30) << 16
        io_limit |= _word(c, 0x32) << 16
    pf_base = (_word(c, 0x24) & 0xFFF0) << 16
    pf_limit = ((_word(c, 0x26) & 0xFFF0) << 16) | 0xFFFFF
    if _word(c, 0x24) & 0x0F == 0x01:  # 64-bit prefetchable window
        pf_base |= _long(c, 0x28) << 32
        pf_limit |= _long(c, 0x2C) << 32
    info: dict[str, JsonValue] = {
        "bus": {
            "number": c[0x18],
            "secondary": c[0x19],
            "subordinate": c[0x1A],
            "io_range": {"base": io_base, "limit": io_limit},
            "memory_range": {
                "base": (_word(c, 0x20) & 0xFFF0) << 16,
                "limit": ((_word(c, 0x22) & 0xFFF0) << 16) | 0xFFFFF,
            },
            "prefetchable_range": {"base": pf_base, "limit": pf_limit},
        }
    }
    sub = getattr(d, "secondary_bus", None)
    if c[0x19] != 0 and sub is not None:
        info["devices"] = _devices(sub)
    return info


def _device(d: PciDevice) -> dict[str, JsonValue]:
    """PciDeviceInfo, members in schema order."""
    c = d.config
    cls: dict[str, JsonValue] = {}
    desc = CLASS_DESCRIPTIONS.get(d.class_id)
    if desc is not None:
        cls["desc"] = desc
    cls["class"] = d.class_id
    ids: dict[str, JsonValue] = {"device": _word(c, 2), "vendor": _word(c, 0)}
    kind = d.header_type & 0x7F
    if kind == 0:
        ids["subsystem"] = d.subsystem_id
        ids["subsystem-vendor"] = d.subsystem_vendor_id
    info: dict[str, JsonValue] = {
        "bus": d.bus.number,
        "slot": d.slot,
        "function": d.func,
        "class_info": cls,
        "id": ids,
    }
    if d.interrupt_pin:
        info["irq"] = c[INTERRUPT_LINE]
    info["irq_pin"] = d.interrupt_pin
    info["qdev_id"] = d.qdev_id
    if kind == 1:
        info["pci_bridge"] = _bridge(d)
    info["regions"] = _regions(d)
    return info


def _devices(bus: PciBus) -> list[JsonValue]:
    return [_device(bus.devices[dfn]) for dfn in sorted(bus.devices)]


@qmp_command("query-pci")
def _query_pci(s: QmpSession, a: Args) -> JsonValue:
    return [{"bus": s.machine.pci_bus.number, "devices": _devices(s.machine.pci_bus)}]
