"""QEMU's ``edu`` teaching device: registers, model, typed properties and info, guest driver."""

from dmamon.devices.edu.device import EDU_BOUNDS, Edu, EduProps
from dmamon.devices.edu.info import EduDma, EduInfo
from dmamon.devices.edu.regs import EduRegs

__all__ = ["EDU_BOUNDS", "Edu", "EduDma", "EduInfo", "EduProps", "EduRegs"]
