"""What the AMD IOMMU guest driver (:mod:`dmamon.devices.amdvi.driver`) returns and raises."""

from __future__ import annotations

from dataclasses import dataclass

from dmamon.devices.amdvi.formats import DecodedCommand

__all__ = ["DriverError", "InvalidationResult", "MapResult"]


class DriverError(ValueError):
    """What was asked of the driver cannot be done (bad arguments, nothing set up)."""


@dataclass(frozen=True)
class InvalidationResult:
    """Commands queued in the command buffer, and whether the IOMMU has finished them.

    Attributes:
        commands: the commands written, COMPLETION_WAIT last when one was asked for.
        completed: the COMPLETION_WAIT's store has landed (always False without a wait).
        semaphore: where the wait stores.
        value: the value it stores.
        note: why it is not complete, when it is not.
        queued: False when the command buffer had no room and nothing was written.
    """

    commands: tuple[DecodedCommand, ...]
    completed: bool
    semaphore: int
    value: int
    note: str = ""
    queued: bool = True


@dataclass(frozen=True)
class MapResult:
    """What :meth:`AmdIommuDriver.map` or ``unmap`` wrote.

    Attributes:
        devid: the requester ID the IOMMU sees.
        domain: the DomainID of the device's page table.
        iova: first IOVA.
        length: bytes covered.
        ptes: guest-physical addresses of the leaf entries written.
        tables: page-table pages allocated for it.
        invalidation: the invalidation issued, or None (``invalidate=False``).
    """

    devid: int
    domain: int
    iova: int
    length: int
    ptes: tuple[int, ...]
    tables: int
    invalidation: InvalidationResult | None
