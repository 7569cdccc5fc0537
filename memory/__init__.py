"""The machine kernel: transactions, regions, address spaces, DMA, IOMMU interface,
virtual clock and trace. Knows no device and no user interface.

Hooks for device packages and front ends: ``engine.events`` (:class:`EventBus`, machine
events), :attr:`TraceRecord.fields` (structured trace arguments), :func:`glob_match`
(QEMU's trace patterns), :class:`MemoryListener` (``AddressSpace.register_listener``),
:class:`MapBackend` (``AddressSpace.map_backends``) and :class:`Stateful` /
:class:`VMStateDescription` (save and restore; see ``dmamon.memory.vmstate``)."""

from dmamon.memory.address_space import AccessOutcome, AddressSpace, MappedRange
from dmamon.memory.clock import BottomHalf, Timer, VirtualClock
from dmamon.memory.dma import DmaMapping, DmaPort, DmaResult, DmaTracker
from dmamon.memory.engine import Engine
from dmamon.memory.errors import ConfigError, MachineHalt
from dmamon.memory.events import (
    DmaFailed,
    EventBus,
    IommuFaulted,
    MachineEvent,
    MachineHalted,
    NamedEvent,
    ReentrancyBlocked,
    ResetEvent,
    RunStateChanged,
    ShutdownEvent,
    Subscription,
)
from dmamon.memory.fixes import Fixes, FixSwitch, all_fixes, declare_fix
from dmamon.memory.flatview import FlatRange, FlatView
from dmamon.memory.glob import glob_match, is_glob
from dmamon.memory.iommu import IOMMUFault, IOMMUPerm, IOMMUTLBEntry, IOMMUTranslator
from dmamon.memory.listener import MemoryListener, MemoryRegionSection
from dmamon.memory.mapping import BounceMap, DirectMap, MapBackend, MapRequest
from dmamon.memory.reentrancy import BH_GUARD, REENTRANCY_GUARD, MemReentrancyGuard
from dmamon.memory.region import MemoryRegion, MmioOps, RegionKind, RegionOwner, transaction
from dmamon.memory.trace import LOG_ITEMS, TraceEvent, Tracer, TraceRecord, all_events
from dmamon.memory.txn import UNSPECIFIED, MemTxAttrs, MemTxResult, format_bdf
from dmamon.memory.vmstate import (
    StateError,
    StateField,
    Stateful,
    VMStateDescription,
    load_ram,
    load_state,
    save_ram,
    save_state,
)

__all__ = [
    "BH_GUARD",
    "LOG_ITEMS",
    "REENTRANCY_GUARD",
    "UNSPECIFIED",
    "AccessOutcome",
    "AddressSpace",
    "BottomHalf",
    "BounceMap",
    "ConfigError",
    "DirectMap",
    "DmaFailed",
    "DmaMapping",
    "DmaPort",
    "DmaResult",
    "DmaTracker",
    "Engine",
    "EventBus",
    "FixSwitch",
    "Fixes",
    "FlatRange",
    "FlatView",
    "IOMMUFault",
    "IOMMUPerm",
    "IOMMUTLBEntry",
    "IOMMUTranslator",
    "IommuFaulted",
    "MachineEvent",
    "MachineHalt",
    "MachineHalted",
    "MapBackend",
    "MapRequest",
    "MappedRange",
    "MemReentrancyGuard",
    "MemTxAttrs",
    "MemTxResult",
    "MemoryListener",
    "MemoryRegion",
    "MemoryRegionSection",
    "MmioOps",
    "NamedEvent",
    "ReentrancyBlocked",
    "RegionKind",
    "RegionOwner",
    "ResetEvent",
    "RunStateChanged",
    "ShutdownEvent",
    "StateError",
    "StateField",
    "Stateful",
    "Subscription",
    "Timer",
    "TraceEvent",
    "TraceRecord",
    "Tracer",
    "VMStateDescription",
    "VirtualClock",
    "all_events",
    "all_fixes",
    "declare_fix",
    "format_bdf",
    "glob_match",
    "is_glob",
    "load_ram",
    "load_state",
    "save_ram",
    "save_state",
    "transaction",
]
