"""``e1000e-lite``: a reduced Intel 82574L for the re-entrancy labs (see ``device``)."""

from typing import TYPE_CHECKING

from dmamon.devices.e1000e_lite.descriptors import RxDesc, TxDesc
from dmamon.devices.e1000e_lite.device import E1000eLite, E1000eLiteProps
from dmamon.devices.e1000e_lite.regs import E1000eLiteRegs
from dmamon.devices.lazy import lazy_exports

if TYPE_CHECKING:
    from dmamon.devices.e1000e_lite.driver import E1000eLiteDriver, E1000eLiteDriverError
    from dmamon.devices.e1000e_lite.info import (
        E1000eLiteInfo,
        InterruptView,
        RingView,
        StatsView,
    )

__all__ = [
    "E1000eLite",
    "E1000eLiteDriver",
    "E1000eLiteDriverError",
    "E1000eLiteInfo",
    "E1000eLiteProps",
    "E1000eLiteRegs",
    "InterruptView",
    "RingView",
    "RxDesc",
    "StatsView",
    "TxDesc",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "E1000eLiteDriver": "driver",
        "E1000eLiteDriverError": "driver",
        "E1000eLiteInfo": "info",
        "InterruptView": "info",
        "RingView": "info",
        "StatsView": "info",
    },
)
