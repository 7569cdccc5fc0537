"""Declarative register banks for device models.

A device lists its MMIO registers as data, in a `RegisterBank` subclass, and attaches behaviour
to them by name with hooks on the device class. The access vocabulary (RO, WO, RW, W1C, W1S, RC,
reserved) is the one of Renode's ``FieldMode`` and QEMU's ``RegisterAccessInfo``; the
class-attribute style is amaranth-soc's. Everything is checked when the class is created, so a
bad register map fails at import time.

Example::

    class EduRegs(RegisterBank, size=0x100, valid_sizes=(4, 8)):
        ident = Reg(0x00, access=RO, reset=0x010000ED, doc="identification")
        dma_cmd = Reg(0x98, width=64, fields=(Field("run", bit=0), Field("irq", bit=2)))

    class EduDevice:
        def __init__(self) -> None:
            self.regs = EduRegs(owner=self)

        @on_write("dma_cmd")
        def _cmd_written(self, old: int, new: int) -> None: ...

Guest accesses are little-endian and byte-granular: an access may cover part of a register, or
several registers, and bytes that hit no register read as 0 and ignore writes. The bank stores
one integer per register (the *stored value*); the access modes decide how guest reads and writes
see and change it:

======  ==========================  ============================================
mode    guest read                  guest write
======  ==========================  ============================================
RO      stored value                ignored
WO      0                           stores the written bits
RW      stored value                stores the written bits
W1C     stored value                clears the bits written as 1
W1S     stored value                sets the bits written as 1
RC      stored value, then clears   ignored
RSVD    0                           ignored (the stored bits are always 0)
======  ==========================  ============================================

A register without fields is one field of its own access mode. In a register with fields, the
bits no field covers are reserved, and a field without an access mode takes the register's.

This module imports only the standard library.
"""

from dmamon.devices.regs.access import RC, RO, RSVD, RW, W1C, W1S, WO, Access
from dmamon.devices.regs.bank import RegisterBank
from dmamon.devices.regs.decl import Field, FieldInfo, Reg, RegInfo
from dmamon.devices.regs.hooks import before_write, on_read, on_write
from dmamon.devices.regs.validate import validate_hooks
from dmamon.devices.regs.view import RegView

__all__ = [
    "RC",
    "RO",
    "RSVD",
    "RW",
    "W1C",
    "W1S",
    "WO",
    "Access",
    "Field",
    "FieldInfo",
    "Reg",
    "RegInfo",
    "RegView",
    "RegisterBank",
    "before_write",
    "on_read",
    "on_write",
    "validate_hooks",
]
