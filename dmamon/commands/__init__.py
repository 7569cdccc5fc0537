"""Monitor commands, one module per area; importing this package registers them all."""

from dmamon.commands import info, machine, memory, script, trace  # noqa: F401

AREAS = ("Help", "Info", "Memory", "DMA", "Devices", "Machine", "Clock", "Trace", "Scripts")
