"""Why an access translates the way it does: the walk explained for ``iommu walk``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmamon.devices.amdvi.formats import perm_of
from dmamon.devices.amdvi.iotlb import IotlbView, perm_word
from dmamon.devices.amdvi.steps import WalkStep
from dmamon.devices.amdvi.walk import WalkOutcome, run_walk
from dmamon.memory import IOMMUPerm, format_bdf

if TYPE_CHECKING:
    from dmamon.devices.amdvi.device import AmdIommu

__all__ = ["WalkExplanation", "explain_walk"]


@dataclass(frozen=True, slots=True)
class WalkExplanation:
    """Why an access translates the way it does, level by level.

    Attributes:
        devid: the requester ID the IOMMU sees (a bridge's, for functions behind one).
        iova: the address the device uses.
        perm: the permission the access needs.
        walk: ``qemu-7.2`` or ``spec`` (fix ``amdvi-page-walk``).
        mode: how the IOMMU treats the access: ``disabled``, ``msi``, ``passthrough``,
            ``untranslated``, ``translated`` or ``fault``.
        steps: the entries the walk read, DTE first.
        ok: the access would succeed (by the tables; see ``iotlb``).
        translated_addr: where the IOVA lands, when ``ok``.
        page_size: the page the walk found (None when it failed).
        granted: the permission the translation carries.
        reason: why it fails, or a note about how it passes.
        event: the event a device access logs (``IO_PAGE_FAULT``...), or empty.
        iotlb: the IOTLB entry a device access would use first, if any.
        iotlb_note: how the IOTLB entry compares with the tables (``stale`` ...).
    """

    devid: int
    iova: int
    perm: IOMMUPerm
    walk: str
    mode: str
    steps: tuple[WalkStep, ...]
    ok: bool
    translated_addr: int | None
    page_size: int | None
    granted: IOMMUPerm
    reason: str
    event: str
    iotlb: IotlbView | None = None
    iotlb_note: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (``iommu walk --json``)."""
        return {
            "devid": format_bdf(self.devid),
            "iova": self.iova,
            "perm": perm_word(int(self.perm)),
            "walk": self.walk,
            "mode": self.mode,
            "steps": [s.to_dict() for s in self.steps],
            "ok": self.ok,
            "translated_addr": self.translated_addr,
            "page_size": self.page_size,
            "granted": perm_word(int(self.granted)),
            "reason": self.reason,
            "event": self.event,
            "iotlb": self.iotlb.to_dict() if self.iotlb else None,
            "iotlb_note": self.iotlb_note,
        }


def explain_walk(iommu: AmdIommu, devid: int, iova: int, perm: IOMMUPerm) -> WalkExplanation:
    """Explain one access without side effects (see :meth:`AmdIommu.walk`)."""
    req = int(perm) & 3 or 1
    walk_name = "spec" if iommu.fixes[iommu.page_walk_fix] else "qemu-7.2"
    if not iommu.enabled:
        return _untranslated(
            devid, iova, perm, walk_name, "disabled", True, IOMMUPerm.RW,
            "the IOMMU is disabled (Control.IommuEn=0): DMA passes untranslated",
        )  # fmt: skip
    if 0xFEE00000 <= iova <= 0xFEEFFFFF:
        return _untranslated(
            devid, iova, perm, walk_name, "msi", req == 2, IOMMUPerm.WO,
            "the MSI window passes writes untranslated (interrupt remapping)",
        )  # fmt: skip
    steps: list[WalkStep] = []
    out = run_walk(iommu, devid, devid & 0xFF, iova, req, steps)
    ok = out.perm & req == req
    translated = (out.translated & ~out.mask) | (iova & out.mask) if ok else None
    page = out.mask + 1 if out.mode in ("translated", "untranslated") else None
    hit = iommu.iotlb.lookup(devid, iova)
    return WalkExplanation(
        devid,
        iova,
        perm,
        walk_name,
        out.mode,
        tuple(steps),
        ok,
        translated,
        page,
        perm_of(out.perm << 61),
        out.reason,
        out.event,
        hit,
        _iotlb_note(hit, out, ok),
    )


def _untranslated(
    devid: int,
    iova: int,
    perm: IOMMUPerm,
    walk_name: str,
    mode: str,
    ok: bool,
    granted: IOMMUPerm,
    reason: str,
) -> WalkExplanation:
    """An access the IOMMU lets through without a walk (IOMMU off, MSI window)."""
    return WalkExplanation(
        devid, iova, perm, walk_name, mode, (), ok, iova if ok else None, None, granted, reason, ""
    )


def _iotlb_note(hit: IotlbView | None, out: WalkOutcome, ok: bool) -> str:
    """How the IOTLB entry a device access would use first compares with the tables."""
    if hit is not None:
        same = (
            ok and hit.translated_addr == (out.translated & ~out.mask) and int(hit.perm) == out.perm
        )
        if same:
            return "hit: the IOTLB entry agrees with the tables"
        return (
            "hit: a device access uses this cached entry, which no longer matches the "
            "tables (stale until INVALIDATE_IOMMU_PAGES for its domain)"
        )
    if out.cache:
        return "miss: a device access walks the tables and caches the result"
    return ""
