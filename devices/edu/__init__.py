"""QEMU's ``edu`` teaching device: registers, model, typed properties and info, guest driver."""

from typing import TYPE_CHECKING

from dmamon.devices.edu.device import EDU_BOUNDS, Edu, EduProps
from dmamon.devices.edu.regs import EduRegs
from dmamon.devices.lazy import lazy_exports

if TYPE_CHECKING:
    from dmamon.devices.edu.info import EduDma, EduInfo

__all__ = ["EDU_BOUNDS", "Edu", "EduDma", "EduInfo", "EduProps", "EduRegs"]

__getattr__ = lazy_exports(__name__, {"EduDma": "info", "EduInfo": "info"})
