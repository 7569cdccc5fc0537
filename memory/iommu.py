"""The IOMMU interface of the kernel (QEMU ``IOMMUMemoryRegionClass.translate``).

A concrete IOMMU lives in ``devices/``; the kernel only asks it to translate, per access,
and follows the answer into the target address space. A denied translation looks to
the device exactly like unassigned memory (QEMU ``address_space_translate_iommu`` jumps
to ``unassigned``): the access fails with ``DECODE_ERROR`` and guest_errors logs the
``region '(null)'`` line. The IOMMU records its own fault (event log) on the side.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag
from typing import TYPE_CHECKING, Protocol

from dmamon.memory.txn import MemTxAttrs

if TYPE_CHECKING:
    from dmamon.memory.address_space import AddressSpace

__all__ = ["IOMMUFault", "IOMMUPerm", "IOMMUTLBEntry", "IOMMUTranslator"]


class IOMMUPerm(IntFlag):
    """Access permission (QEMU ``IOMMUAccessFlags``)."""

    NONE = 0
    RO = 1  # read
    WO = 2  # write
    RW = 3


@dataclass(frozen=True, slots=True)
class IOMMUFault:
    """Why a translation was refused, as the IOMMU model explains it.

    Attributes:
        requester_id: the device (bus:dev.fn as a 16-bit number).
        iova: the address the device used.
        perm: the permission the access needed.
        reason: short plain-words reason (``not present``, ``write not permitted``, ...).
        event: the IOMMU's own event name (``IO_PAGE_FAULT``), if it logged one.
    """

    requester_id: int
    iova: int
    perm: IOMMUPerm
    reason: str
    event: str = ""


@dataclass(frozen=True, slots=True)
class IOMMUTLBEntry:
    """One translation (QEMU ``IOMMUTLBEntry``).

    Attributes:
        target_as: where translated accesses go (normally the untranslated system memory).
        iova: the page-aligned input address (``iova & ~addr_mask``).
        translated_addr: the page-aligned output address.
        addr_mask: page size - 1.
        perm: what the entry permits; ``NONE`` means the access faults.
        fault: details when the translation failed.
    """

    target_as: AddressSpace | None
    iova: int
    translated_addr: int
    addr_mask: int
    perm: IOMMUPerm
    fault: IOMMUFault | None = None


class IOMMUTranslator(Protocol):
    """What an IOMMU region calls for every access that goes through it."""

    def translate(self, iova: int, perm: IOMMUPerm, attrs: MemTxAttrs) -> IOMMUTLBEntry:
        """Translate one address for one access; never raises for guest mistakes."""
        ...
