"""Monitor commands, one module per area; importing this package registers them all, and
the front-end plug-ins' (:mod:`dmamon.plugins`) with them."""

from dmamon import plugins
from dmamon.commands import device_info, info, machine, memory, raw, script, trace  # noqa: F401

_CORE = (
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
# Device plug-ins' areas follow DMA, the core area they build on.
_AFTER = _CORE.index("DMA") + 1
AREAS = (*_CORE[:_AFTER], *plugins.load(), *_CORE[_AFTER:])
