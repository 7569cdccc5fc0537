"""Monitor commands, one module per area; importing this package registers them all."""

from dmamon.commands import info, iommu, machine, memory, raw, script, trace  # noqa: F401

AREAS = (
    "Help",
    "Info",
    "Memory",
    "Raw access",
    "DMA",
    "IOMMU",
    "Devices",
    "Machine",
    "Clock",
    "Trace",
    "Scripts",
)
