"""Property: with fix iommu-inval-drain on, no translation the guest was told is gone is
ever used (devices/amdvi/, scenario d).

A hypothesis state machine maps and unmaps IOVA pages of edu (00:02.0) through the guest
driver, with or without invalidations, flushes, takes and releases DMA mappings like block
AIO does, uses them, and makes plain DMA accesses. A model keeps the page table and, per
page, the version of the last change whose invalidation has *completed* (its
COMPLETION_WAIT stored the semaphore). After every step:

* the DMA checker has reported nothing, and no live mapping is stale: a COMPLETION_WAIT
  never signals while a mapping it invalidated is still in flight;
* for every page whose last change is covered by a completed invalidation, a device access
  translates exactly as the page table says (no stale IOTLB entry survives it).
"""

from __future__ import annotations

from dmamon.devices import Machine, PciDevice
from dmamon.devices.amdvi import AmdIommu, AmdIommuDriver, InvalidationResult, find_iommu
from dmamon.memory import DmaMapping, DmaPort, IOMMUPerm
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

PAGES = 4
IOVA = 0x1000000
GPA = 0x100000
DEVID = 0x10
PERMS = ("r", "w", "rw")
READS = {"r", "rw"}


def iova(page: int) -> int:
    return IOVA + page * 0x1000


class IommuMachine(RuleBasedStateMachine):
    """edu behind an AMD IOMMU with the drain switch on."""

    def __init__(self) -> None:
        super().__init__()
        self.m = Machine(devices=["amd-iommu", "edu,id=edu0"])
        self.m.engine.fixes.set("iommu-inval-drain", True)
        self.m.io_as.store(0xCF8, 4, 0x80001004)
        self.m.io_as.store(0xCFC, 2, 0x0004)  # bus master
        iommu = find_iommu(self.m)
        assert iommu is not None
        self.iommu: AmdIommu = iommu
        self.drv = AmdIommuDriver(self.m)
        self.drv.setup()
        edu = self.m.device("edu0")
        assert isinstance(edu, PciDevice) and edu.dma is not None
        self.edu = edu
        self.dma: DmaPort = edu.dma
        self.drv.attach(edu, 1)
        self.pte: dict[int, tuple[int, str] | None] = dict.fromkeys(range(PAGES))
        self.version = [0] * PAGES
        self.clean = [0] * PAGES
        self.pending: list[tuple[InvalidationResult, dict[int, int]]] = []
        self.held: list[DmaMapping] = []

    # -- bookkeeping -------------------------------------------------------------------

    def _changed(self, page: int, inv: InvalidationResult | None) -> None:
        self.version[page] += 1
        if inv is not None and inv.queued:
            self.pending.append((inv, {page: self.version[page]}))

    def _issued(self, inv: InvalidationResult, pages: range | list[int]) -> None:
        if inv.queued:
            self.pending.append((inv, {p: self.version[p] for p in pages}))

    def _settle(self) -> None:
        self.m.after_command()
        still = []
        for inv, versions in self.pending:
            if self.drv.completed(inv):
                for p, v in versions.items():
                    self.clean[p] = max(self.clean[p], v)
            else:
                still.append((inv, versions))
        self.pending = still

    # -- rules -------------------------------------------------------------------------

    @rule(
        page=st.integers(0, PAGES - 1),
        frame=st.integers(0, 7),
        perm=st.sampled_from(PERMS),
        invalidate=st.booleans(),
    )
    def map_page(self, page: int, frame: int, perm: str, invalidate: bool) -> None:
        gpa = GPA + frame * 0x1000
        res = self.drv.map(self.edu, iova(page), gpa, 0x1000, perm, invalidate=invalidate)
        self.pte[page] = (gpa, perm)
        self._changed(page, res.invalidation)
        self._settle()

    @rule(page=st.integers(0, PAGES - 1), invalidate=st.booleans())
    def unmap_page(self, page: int, invalidate: bool) -> None:
        res = self.drv.unmap(self.edu, iova(page), 0x1000, invalidate=invalidate)
        self.pte[page] = None
        self._changed(page, res.invalidation)
        self._settle()

    @rule(page=st.integers(0, PAGES - 1))
    def invalidate_page(self, page: int) -> None:
        self._issued(self.drv.invalidate(1, iova(page), 0x1000), [page])
        self._settle()

    @rule()
    def flush_domain(self) -> None:
        self._issued(self.drv.flush(self.edu), range(PAGES))
        self._settle()

    @precondition(lambda self: len(self.held) < 4)
    @rule(page=st.integers(0, PAGES - 1), write=st.booleans())
    def take_mapping(self, page: int, write: bool) -> None:
        _, mapping = self.dma.map(iova(page), 8, write)
        if mapping is not None:
            self.held.append(mapping)
        self._settle()

    @precondition(lambda self: bool(self.held))
    @rule(index=st.integers(0, 3), data=st.binary(min_size=8, max_size=8))
    def use_mapping(self, index: int, data: bytes) -> None:
        mapping = self.held[index % len(self.held)]
        if mapping.is_write:
            mapping.write(0, data)
        else:
            mapping.read(0, 8)
        self._settle()

    @precondition(lambda self: bool(self.held))
    @rule(index=st.integers(0, 3))
    def release_mapping(self, index: int) -> None:
        mapping = self.held.pop(index % len(self.held))
        self.dma.unmap(mapping, 8)
        self._settle()

    @rule(page=st.integers(0, PAGES - 1), write=st.booleans())
    def device_access(self, page: int, write: bool) -> None:
        if write:
            self.dma.write(iova(page), b"dmamon!!")
        else:
            self.dma.read(iova(page), 8)
        self._settle()

    @rule(ns=st.integers(0, 1_000_000))
    def time_passes(self, ns: int) -> None:
        self.m.step(ns)
        self._settle()

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def no_stale_mapping_is_ever_used(self) -> None:
        assert self.m.engine.dma.reports == []
        assert not [m.id for m in self.held if m.stale]

    @invariant()
    def completed_invalidations_leave_no_stale_translation(self) -> None:
        for page in range(PAGES):
            if self.version[page] != self.clean[page]:
                continue  # the last change has not been invalidated (or not completed)
            want = self.pte[page]
            entry = self.iommu.translate(DEVID, iova(page), IOMMUPerm.RO)
            if want is None or want[1] not in READS:
                assert not entry.perm & IOMMUPerm.RO, (page, want, entry)
            else:
                assert entry.perm & IOMMUPerm.RO, (page, want, entry)
                assert entry.translated_addr == want[0], (page, want, entry)


IommuMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestIommuInvalidationNeverLeavesAStaleTranslation = IommuMachine.TestCase
