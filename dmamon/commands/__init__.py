"""Monitor commands, one module per area; importing this package registers them all."""

from dmamon.commands import info, machine, memory, raw, script, trace  # noqa: F401

AREAS = (
    "Help",
    "Info",
    "Memory",
    "Raw access",
    "DMA",
    "Devices",
    "Machine",
    "Clock",
    "Trace",
    "Scripts",
)
