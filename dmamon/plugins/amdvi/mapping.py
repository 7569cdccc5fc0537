"""Checks ``iommu map`` and ``unmap`` make before anything is written: what the page tables
can hold, where the GPA range lands, and how the driver rounds the length."""

from __future__ import annotations

from dmamon.devices import Machine, PciDevice
from dmamon.devices.amdvi import AmdIommuDriver
from dmamon.monitor import MonitorError
from dmamon.plugins.amdvi.views import size_words

__all__ = ["GPA_LIMIT", "MAX_PAGES", "check_range", "gpa_problem", "rounding_note"]

MAX_PAGES = 1 << 16  # per map/unmap: more is a typo, and the reserved range would not hold it
GPA_LIMIT = 1 << 52  # page-table entries hold address bits 51:12


def check_range(
    sub: str, drv: AmdIommuDriver, target: PciDevice | int, iova: int, length: int, page: int
) -> None:
    """Refuse what the page tables cannot hold before anything is written."""
    dom = drv.domain_of(target)
    levels = drv.domains[dom][1] if dom in drv.domains else drv.levels
    limit = 1 << min(64, 12 + 9 * levels)
    if length <= 0:
        raise MonitorError(f"iommu {sub}: the length must be positive, not {length:#x}")
    if iova < 0 or iova + length > limit:
        raise MonitorError(
            f"iommu {sub}: IOVA range {iova:#x}+{length:#x} is outside what a {levels}-level "
            f"table maps (0-{limit - 1:#x})"
        )
    if length // page > MAX_PAGES:
        raise MonitorError(
            f"iommu {sub}: {length // page} pages is more than {MAX_PAGES} at once (use "
            "--page-size 2M for large ranges)"
        )


def gpa_problem(machine: Machine, gpa: int, length: int, page: int) -> str:
    """Why ``[gpa, gpa+length)`` (rounded up to whole pages) is no DMA target ("" when it is
    one): beyond 52 bits, or a hole where neither RAM nor a device's MMIO answers, so every
    DMA through the mapping would fail (most often a typo in the GPA)."""
    if gpa < 0 or gpa + length > GPA_LIMIT:
        return f"GPA range {gpa:#x}+{length:#x} is beyond 52 bits"
    end = gpa + -(-length // page) * page
    addr = gpa
    memory = machine.memory
    while addr < end:
        found = memory.lookup(addr)
        if found is None:
            return (
                f"nothing answers at GPA {addr:#x} (RAM is {machine.ram_size:#x} bytes; "
                "map RAM or a device's MMIO)"
            )
        addr = found.end
    return ""


def rounding_note(asked: int, mapped: int, page: int) -> str:
    """The line saying the driver rounded the length up to whole pages ("" when it did not)."""
    if asked == mapped:
        return ""
    return f"length {asked:#x} rounded up to {mapped:#x} (whole {size_words(page)} pages)"
