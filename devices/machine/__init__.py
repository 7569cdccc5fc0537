"""The machine: the composition root that wires memory, buses, clock, tracer and devices."""

from dmamon.devices.machine.machine import (
    DEFAULT_DEVICES,
    DEFAULT_RAM,
    MACHINE_TYPES,
    Machine,
    parse_size,
)

__all__ = ["DEFAULT_DEVICES", "DEFAULT_RAM", "MACHINE_TYPES", "Machine", "parse_size"]
