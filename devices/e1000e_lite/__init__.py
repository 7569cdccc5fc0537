"""``e1000e-lite``: a reduced Intel 82574L for the re-entrancy labs (see ``device``)."""

from dmamon.devices.e1000e_lite.descriptors import RxDesc, TxDesc
from dmamon.devices.e1000e_lite.device import E1000eLite
from dmamon.devices.e1000e_lite.regs import E1000eLiteRegs

__all__ = ["E1000eLite", "E1000eLiteRegs", "RxDesc", "TxDesc"]
