"""QEMU 7.2's AMD IOMMU (``-device amd-iommu``), its formats, and a guest-driver helper.

Importing the package registers the device type. Public API:

* :class:`AmdIommu` — the device: ``walk()`` explains a translation, ``translate()`` does
  one, ``iotlb_entries()``, ``decoded_events()``, ``event_history()``,
  ``command_history()``, ``decode_registers()``, ``pending_invalidations()``.
* :class:`AmdIommuDriver` — programs the IOMMU the way a guest driver does (device table,
  command buffer, event log and page tables in a reserved range of guest RAM).
* :mod:`~dmamon.devices.amdvi.formats` — DTE/PTE/command/event encoders and decoders.
* ``AmdIommu.info()`` — typed records (:mod:`~dmamon.devices.amdvi.info`) for text
  (``info_lines``) and JSON (``dataclasses.asdict``).

The device owns its parts: ``cmdbuf`` (command buffer), ``evtlog`` (event log), ``iotlb``,
``translate`` (per-requester windows and the slow path), ``walk`` (page walks), ``steps``
and ``explain`` (``iommu walk``), ``views`` (the records' builders), ``identity`` (PCI
capabilities), ``registers`` (MMIO bank and fix switches).
"""

from dmamon.devices.amdvi.device import (
    AmdIommu,
    CommandRecord,
    EventRecord,
    RegisterView,
    find_iommu,
)
from dmamon.devices.amdvi.driver import AmdIommuDriver, DriverError, InvalidationResult
from dmamon.devices.amdvi.explain import WalkExplanation
from dmamon.devices.amdvi.formats import DecodedCommand, DecodedEvent, Dte, Pte
from dmamon.devices.amdvi.iotlb import IotlbView
from dmamon.devices.amdvi.registers import (
    AMDVI_BASE_ADDR,
    CMDBUF_HEAD_WRAP,
    EVENT_LOG,
    INVAL_DRAIN,
    PAGE_WALK,
    QEMU_72_OFF,
    STATUS_W1C,
    AmdviRegs,
)
from dmamon.devices.amdvi.steps import WalkStep

__all__ = [
    "AMDVI_BASE_ADDR",
    "CMDBUF_HEAD_WRAP",
    "EVENT_LOG",
    "INVAL_DRAIN",
    "PAGE_WALK",
    "QEMU_72_OFF",
    "STATUS_W1C",
    "AmdIommu",
    "AmdIommuDriver",
    "AmdviRegs",
    "CommandRecord",
    "DecodedCommand",
    "DecodedEvent",
    "DriverError",
    "Dte",
    "EventRecord",
    "InvalidationResult",
    "IotlbView",
    "Pte",
    "RegisterView",
    "WalkExplanation",
    "WalkStep",
    "find_iommu",
]
