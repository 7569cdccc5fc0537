"""QEMU's ``edu`` teaching device: registers, model, typed properties and info, guest driver."""

from dmamon.devices.edu.device import EDU_BOUNDS, Edu
from dmamon.devices.edu.regs import EduRegs

__all__ = ["EDU_BOUNDS", "Edu", "EduRegs"]
