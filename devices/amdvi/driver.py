"""A guest driver for the AMD IOMMU, so the monitor's ``iommu setup/map/unmap/flush`` are thin.

It does what Linux's ``amd_iommu`` driver does, through the same guest-visible paths: it
puts the device table, the command buffer, the event log, a completion semaphore and the
I/O page tables in a reserved range of guest RAM, programs the MMIO registers at
0xfed80000 with ordinary stores, writes page-table entries into guest memory, and queues
invalidations plus a COMPLETION_WAIT in the command buffer. Nothing here reaches into the
model's internals, so every step can be replayed by hand with ``writeq``.

Mistakes in what the caller asks (misaligned addresses, no IOMMU, no room left) raise
:class:`DriverError`; what the machine does in response (a deferred completion, a full
command buffer) comes back as a value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmamon.devices.amdvi.device import AmdIommu, find_iommu
from dmamon.devices.amdvi.formats import (
    ADDR_MASK,
    ALL_PAGES,
    COMMAND_SIZE,
    DTE_SIZE,
    EVENT_SIZE,
    DecodedCommand,
    DecodedEvent,
    Dte,
    cmd_completion_wait,
    cmd_invalidate_all,
    cmd_invalidate_devtab_entry,
    cmd_invalidate_iommu_pages,
    decode_command,
    decode_event,
    encode_dte,
    encode_pte,
    level_page_size,
)
from dmamon.devices.amdvi.registers import (
    AMDVI_BASE_ADDR,
    CTRL_CMD_BUF_EN,
    CTRL_COM_WAIT_INT_EN,
    CTRL_EVENT_INT_EN,
    CTRL_EVENT_LOG_EN,
    CTRL_IOMMU_EN,
)
from dmamon.devices.amdvi.results import DriverError, InvalidationResult, MapResult
from dmamon.devices.pci import PciDevice
from dmamon.memory import IOMMUPerm, MemTxResult, format_bdf

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine

__all__ = [
    "AmdIommuDriver",
    "DriverError",
    "InvalidationResult",
    "MapResult",
    "acknowledge_events",
    "set_translation",
]

PAGE = 4096
RESERVED_DEFAULT = 2 << 20
LOG_ENTRIES = 256  # command buffer and event log: 256 entries (length field 8)
LEN_FIELD = 8
DEVTAB_PAGES = 2  # 256 DTEs: bus 0, where every function (or its bridge) sits
REG_DEVTAB, REG_CMDBUF, REG_EVTLOG, REG_CONTROL = 0x00, 0x08, 0x10, 0x18
REG_CMD_HEAD, REG_CMD_TAIL, REG_EVT_HEAD, REG_EVT_TAIL = 0x2000, 0x2008, 0x2010, 0x2018
REG_STATUS = 0x2020
STATUS_EVENT_BITS = 0x3  # EventOverflow | EventLogInt (W1C), as Linux's event handler clears
_OK = MemTxResult.OK


def _parse_perm(perm: IOMMUPerm | str) -> IOMMUPerm:
    if isinstance(perm, IOMMUPerm):
        return perm
    table = {"r": IOMMUPerm.RO, "w": IOMMUPerm.WO, "rw": IOMMUPerm.RW, "none": IOMMUPerm.NONE}
    try:
        return table[perm.lower()]
    except KeyError:
        raise DriverError(f"permission must be r, w, rw or none, not {perm!r}") from None


class AmdIommuDriver:
    """Programs an :class:`AmdIommu` as a guest driver would.

    Args:
        machine: the machine.
        iommu: the IOMMU (default: the machine's).
        base: start of the reserved range in guest RAM (default: the top 2 MiB of RAM
            below 4 GiB, 1 MiB aligned).
        size: size of the reserved range (at least 64 KiB).
        levels: page-table levels for new domains (DTE Mode; 4 covers 48-bit IOVAs).

    Raises:
        DriverError: no IOMMU, or the range is not in RAM or too small.
    """

    def __init__(
        self,
        machine: Machine,
        iommu: AmdIommu | None = None,
        base: int | None = None,
        size: int = RESERVED_DEFAULT,
        levels: int = 4,
    ) -> None:
        found = iommu or find_iommu(machine)
        if found is None:
            raise DriverError("no amd-iommu device (add one with: device_add amd-iommu)")
        if not 1 <= levels <= 6:
            raise DriverError(f"page-table levels must be 1..6, not {levels}")
        self.machine = machine
        self.iommu = found
        self.mem = machine.memory
        below = min(machine.ram_size, 0x80000000 if machine.ram_size >= 0xB0000000 else 0xB0000000)
        if base is None:
            base = (below - size) & ~0xFFFFF
        if size < 0x10000 or base & (PAGE - 1) or base < 0 or base + size > below:
            raise DriverError(
                f"reserved range {base:#x}+{size:#x} must be page aligned, at least 64 KiB and "
                f"inside RAM below {below:#x}"
            )
        self.base = base
        self.size = size
        self.levels = levels
        self.devtab = base
        self.cmdbuf = base + DEVTAB_PAGES * PAGE
        self.evtlog = self.cmdbuf + PAGE
        self.semaphore = self.evtlog + PAGE
        self.tables_start = self.semaphore + PAGE
        self._reset_allocations()

    @classmethod
    def of(cls, machine: Machine) -> AmdIommuDriver:
        """The driver that set up the machine's IOMMU (``iommu setup``), or a new one with
        the default layout, not yet set up.

        Raises:
            DriverError: the machine has no amd-iommu.
        """
        iommu = find_iommu(machine)
        if iommu is not None and iommu.driver is not None:
            return iommu.driver
        return cls(machine, iommu)

    def _reset_allocations(self) -> None:
        self.next_table = self.tables_start
        self.free_tables: list[int] = []
        self.domains: dict[int, tuple[int, int]] = {}  # domain -> (root, mode)
        self.sem_value = 0
        self.tail = 0

    # -- guest-visible accesses ------------------------------------------------------------

    def _wreg(self, off: int, value: int) -> None:
        self.mem.store(AMDVI_BASE_ADDR + off, 8, value)

    def _rreg(self, off: int) -> int:
        return self.mem.load(AMDVI_BASE_ADDR + off, 8)[1]

    def _wq(self, addr: int, value: int) -> None:
        self.mem.store(addr, 8, value)

    def _rq(self, addr: int) -> int:
        return self.mem.load(addr, 8)[1]

    # -- setup -----------------------------------------------------------------------------

    @property
    def is_setup(self) -> bool:
        """The IOMMU's base registers point at this driver's structures."""
        return (
            self._rreg(REG_DEVTAB) & ADDR_MASK == self.devtab
            and self._rreg(REG_CMDBUF) & ADDR_MASK == self.cmdbuf
        )

    def setup(
        self, enable: bool = True, event_int: bool = False, comwait_int: bool = False
    ) -> None:
        """Allocate and program the device table, command buffer and event log, as Linux's
        ``iommu_init_pci``/``iommu_enable`` do, then turn translation on (``enable``).

        Args:
            enable: set IommuEn (translation) as well as CmdBufEn and EventLogEn.
            event_int: set EventIntEn (MSI on each event).
            comwait_int: set ComWaitIntEn.
        """
        self._wreg(REG_CONTROL, 0)
        self.mem.write(self.base, bytes(self.tables_start - self.base))
        self._reset_allocations()
        self._wreg(REG_DEVTAB, self.devtab | (DEVTAB_PAGES - 1))
        self._wreg(REG_CMDBUF, self.cmdbuf | (LEN_FIELD << 56))
        self._wreg(REG_EVTLOG, self.evtlog | (LEN_FIELD << 56))
        for reg in (REG_CMD_HEAD, REG_CMD_TAIL, REG_EVT_HEAD, REG_EVT_TAIL):
            self._wreg(reg, 0)
        control = CTRL_EVENT_LOG_EN | CTRL_CMD_BUF_EN
        control |= CTRL_EVENT_INT_EN if event_int else 0
        control |= CTRL_COM_WAIT_INT_EN if comwait_int else 0
        control |= CTRL_IOMMU_EN if enable else 0
        self._wreg(REG_CONTROL, control)
        self.iommu.driver = self

    def _require_setup(self) -> None:
        if not self.is_setup:
            raise DriverError("the IOMMU is not set up by this driver (run: iommu setup)")

    def set_enabled(self, on: bool) -> None:
        """Set or clear Control.IommuEn (``iommu on|off``); commands only run while it is set.

        Raises:
            DriverError: not set up.
        """
        self._require_setup()
        set_translation(self.machine, on)

    # -- table memory ----------------------------------------------------------------------

    def _alloc_table(self) -> int:
        if self.free_tables:
            addr = self.free_tables.pop()
        else:
            if self.next_table + PAGE > self.base + self.size:
                raise DriverError(
                    f"the reserved range {self.base:#x}+{self.size:#x} has no page-table page left"
                )
            addr = self.next_table
            self.next_table += PAGE
        self.mem.write(addr, bytes(PAGE))
        return addr

    @property
    def tables_used(self) -> int:
        """Page-table pages handed out."""
        return (self.next_table - self.tables_start) // PAGE - len(self.free_tables)

    # -- devices and domains ---------------------------------------------------------------

    def devid(self, target: PciDevice | int) -> int:
        """The requester ID the IOMMU sees for a function (a bridge's, behind one)."""
        if isinstance(target, PciDevice):
            return self.iommu.devid_of(target)
        return target & 0xFFFF

    def read_dte(self, target: PciDevice | int) -> Dte:
        """The device table entry as it is in guest memory."""
        addr = self.devtab + self.devid(target) * DTE_SIZE
        return Dte.decode(
            (self._rq(addr), self._rq(addr + 8), self._rq(addr + 16), self._rq(addr + 24))
        )

    def domain_of(self, target: PciDevice | int) -> int | None:
        """The device's DomainID, or None while its DTE is not translating."""
        d = self.read_dte(target)
        return d.domain_id if d.v and d.tv else None

    def attach(
        self,
        target: PciDevice | int,
        domain: int | None = None,
        perm: IOMMUPerm | str = IOMMUPerm.RW,
        invalidate: bool = True,
    ) -> int:
        """Point a device's DTE at a domain's page table (created empty when new).

        Args:
            target: the function or DeviceID.
            domain: DomainID (default: a new one, numbered from 1).
            perm: DTE IR/IW.
            invalidate: queue INVALIDATE_DEVTAB_ENTRY + COMPLETION_WAIT, as Linux does.

        Returns:
            The DomainID.

        Raises:
            DriverError: not set up, or the DomainID is out of range.
        """
        self._require_setup()
        devid = self.devid(target)
        if domain is None:
            domain = 1
            while domain in self.domains:
                domain += 1
        if not 0 < domain <= 0xFFFF:
            raise DriverError(f"DomainID must be 1..65535, not {domain}")
        if domain not in self.domains:
            self.domains[domain] = (self._alloc_table(), self.levels)
        root, mode = self.domains[domain]
        q = encode_dte(root, mode, domain, _parse_perm(perm))
        addr = self.devtab + devid * DTE_SIZE
        for i in (1, 2, 3, 0):  # quad 0 (V, TV) last, as Linux's set_dte_entry
            self._wq(addr + 8 * i, q[i])
        if invalidate:
            self.submit([cmd_invalidate_devtab_entry(devid)])
        return domain

    def detach(self, target: PciDevice | int, invalidate: bool = True) -> None:
        """Clear a device's DTE (V=0: its DMA passes untranslated again).

        Raises:
            DriverError: not set up.
        """
        self._require_setup()
        devid = self.devid(target)
        addr = self.devtab + devid * DTE_SIZE
        for i in range(4):
            self._wq(addr + 8 * i, 0)
        if invalidate:
            self.submit([cmd_invalidate_devtab_entry(devid)])

    def _domain_for(self, target: PciDevice | int) -> tuple[int, int, int]:
        devid = self.devid(target)
        dom = self.domain_of(devid)
        if dom is None or dom not in self.domains:
            dom = self.attach(devid)
        root, mode = self.domains[dom]
        return dom, root, mode

    # -- page tables -----------------------------------------------------------------------

    def _leaf_slot(
        self, root: int, mode: int, iova: int, leaf_level: int, allocate: bool
    ) -> tuple[int | None, int]:
        """Address of the level-``leaf_level`` entry for ``iova``, allocating tables above it.

        Returns:
            ``(entry address or None when a table is missing, tables allocated)``.
        """
        table = root
        made = 0
        for level in range(mode, leaf_level, -1):
            entry = table + ((iova >> (12 + 9 * (level - 1))) & 0x1FF) * 8
            pde = self._rq(entry)
            next_level = (pde >> 9) & 7
            if not pde & 1:
                if not allocate:
                    return None, made
                table = self._alloc_table()
                made += 1
                self._wq(entry, encode_pte(table, level - 1, IOMMUPerm.RW))
                continue
            if next_level in (0, 7):
                raise DriverError(
                    f"IOVA {iova:#x} is already mapped by a level-{level} page; unmap it first"
                )
            table = pde & ADDR_MASK
        return table + ((iova >> (12 + 9 * (leaf_level - 1))) & 0x1FF) * 8, made

    def pte_address(self, target: PciDevice | int, iova: int, page_size: int = PAGE) -> int | None:
        """Where the leaf entry for ``iova`` is in guest memory (None: not built)."""
        dom = self.domain_of(target)
        if dom is None or dom not in self.domains:
            return None
        root, mode = self.domains[dom]
        return self._leaf_slot(root, mode, iova, self._leaf_level(page_size, mode), False)[0]

    @staticmethod
    def _leaf_level(page_size: int, mode: int) -> int:
        for level in range(1, mode + 1):
            if level_page_size(level) == page_size:
                return level
        raise DriverError(
            f"page size {page_size:#x} is not 4 KiB, 2 MiB or 1 GiB within {mode} levels"
        )

    def map(
        self,
        target: PciDevice | int,
        iova: int,
        gpa: int,
        length: int,
        perm: IOMMUPerm | str = IOMMUPerm.RW,
        invalidate: bool = True,
        page_size: int = PAGE,
    ) -> MapResult:
        """Map ``[iova, iova+length)`` to ``gpa`` in the device's domain (attached on first
        use), writing leaf entries into guest memory; then, unless ``invalidate`` is False,
        queue INVALIDATE_IOMMU_PAGES for the range and a COMPLETION_WAIT.

        Rewriting an existing mapping without invalidating leaves the IOTLB stale on
        purpose (the lesson of ``iommu-stale-iotlb``).

        Raises:
            DriverError: not set up, misaligned, no table page left, or a larger page
                already maps part of the range.
        """
        self._require_setup()
        p = _parse_perm(perm)
        if iova % page_size or gpa % page_size or length <= 0:
            raise DriverError(
                f"IOVA {iova:#x} and GPA {gpa:#x} must be {page_size:#x}-aligned and the "
                "length positive"
            )
        length = (length + page_size - 1) // page_size * page_size
        dom, root, mode = self._domain_for(target)
        leaf = self._leaf_level(page_size, mode)
        ptes = []
        made = 0
        for off in range(0, length, page_size):
            slot, n = self._leaf_slot(root, mode, iova + off, leaf, True)
            assert slot is not None
            made += n
            self._wq(slot, encode_pte(gpa + off, 0, p))
            ptes.append(slot)
        inv = self.invalidate(dom, iova, length) if invalidate else None
        return MapResult(self.devid(target), dom, iova, length, tuple(ptes), made, inv)

    def unmap(
        self,
        target: PciDevice | int,
        iova: int,
        length: int,
        invalidate: bool = True,
        page_size: int = PAGE,
    ) -> MapResult:
        """Clear the leaf entries of ``[iova, iova+length)`` (zero them, as Linux does) and,
        unless ``invalidate`` is False, queue INVALIDATE_IOMMU_PAGES + COMPLETION_WAIT.

        Raises:
            DriverError: not set up, misaligned, or the device has no domain.
        """
        self._require_setup()
        if iova % page_size or length <= 0:
            raise DriverError(f"IOVA {iova:#x} must be {page_size:#x}-aligned, length positive")
        dom = self.domain_of(target)
        if dom is None or dom not in self.domains:
            raise DriverError(f"{format_bdf(self.devid(target))} has no I/O page table")
        root, mode = self.domains[dom]
        leaf = self._leaf_level(page_size, mode)
        length = (length + page_size - 1) // page_size * page_size
        cleared = []
        for off in range(0, length, page_size):
            slot = self._leaf_slot(root, mode, iova + off, leaf, False)[0]
            if slot is not None and self._rq(slot):
                self._wq(slot, 0)
                cleared.append(slot)
        inv = self.invalidate(dom, iova, length) if invalidate else None
        return MapResult(self.devid(target), dom, iova, length, tuple(cleared), 0, inv)

    # -- commands --------------------------------------------------------------------------

    def invalidate(self, domain: int, iova: int = 0, length: int = ALL_PAGES) -> InvalidationResult:
        """INVALIDATE_IOMMU_PAGES for a domain's range, then COMPLETION_WAIT."""
        return self.submit([cmd_invalidate_iommu_pages(domain, iova, length)])

    def flush(self, target: PciDevice | int | None = None) -> InvalidationResult:
        """``iommu flush``: every page of the device's domain, or INVALIDATE_IOMMU_ALL.

        Raises:
            DriverError: not set up, or the device has no domain.
        """
        self._require_setup()
        if target is None:
            return self.submit([cmd_invalidate_all()])
        dom = self.domain_of(target)
        if dom is None:
            raise DriverError(f"{format_bdf(self.devid(target))} has no domain")
        return self.invalidate(dom)

    def submit(self, commands: list[tuple[int, int]], wait: bool = True) -> InvalidationResult:
        """Write commands at the tail, add a COMPLETION_WAIT on the semaphore (``wait``),
        and move the tail (which makes the IOMMU run them).

        Returns:
            What was queued and whether the wait's store has landed.

        Raises:
            DriverError: not set up.
        """
        self._require_setup()
        cmds = list(commands)
        value = 0
        if wait:
            self.sem_value += 1
            value = self.sem_value
            cmds.append(cmd_completion_wait(self.semaphore, value))
        size = LOG_ENTRIES * COMMAND_SIZE
        head = self._rreg(REG_CMD_HEAD) % size
        tail = self._rreg(REG_CMD_TAIL) % size
        free = (head - tail - COMMAND_SIZE) % size // COMMAND_SIZE
        decoded = tuple(decode_command(q0, q1) for q0, q1 in cmds)
        if len(cmds) > free:
            if wait:
                self.sem_value -= 1
            return InvalidationResult(
                decoded,
                False,
                self.semaphore,
                value,
                f"the command buffer has room for {free} command(s): the IOMMU is not "
                "consuming them (stalled COMPLETION_WAIT, or translation off)",
                queued=False,
            )
        for q0, q1 in cmds:
            self._wq(self.cmdbuf + tail, q0)
            self._wq(self.cmdbuf + tail + 8, q1)
            tail = (tail + COMMAND_SIZE) % size
        self.tail = tail
        self._wreg(REG_CMD_TAIL, tail)
        return self._result(decoded, value, wait)

    def _result(
        self, decoded: tuple[DecodedCommand, ...], value: int, wait: bool
    ) -> InvalidationResult:
        if not wait:
            return InvalidationResult(decoded, False, self.semaphore, 0, "no COMPLETION_WAIT")
        done = self._rq(self.semaphore) == value
        note = ""
        if not done:
            if not self._rreg(REG_CONTROL) & CTRL_IOMMU_EN:
                note = "translation is off: the commands run when it is turned on"
            else:
                note = "COMPLETION_WAIT not signalled yet (in-flight DMA still draining)"
        return InvalidationResult(decoded, done, self.semaphore, value, note)

    def completed(self, result: InvalidationResult) -> bool:
        """Poll the semaphore: has ``result``'s COMPLETION_WAIT stored its value since?"""
        return result.value != 0 and self._rq(result.semaphore) >= result.value

    # -- event log -------------------------------------------------------------------------

    def read_events(self, consume: bool = False) -> list[DecodedEvent]:
        """The event log entries between head and tail, decoded (``consume``: move the head
        past them, as the driver's interrupt handler does)."""
        size = LOG_ENTRIES * EVENT_SIZE
        head = self._rreg(REG_EVT_HEAD) % size
        tail = self._rreg(REG_EVT_TAIL) % size
        out = []
        while head != tail:
            out.append(decode_event(self._rq(self.evtlog + head), self._rq(self.evtlog + head + 8)))
            head = (head + EVENT_SIZE) % size
        if consume:
            self._wreg(REG_EVT_HEAD, head)
        return out

    def layout(self) -> dict[str, int]:
        """Where everything is in the reserved range (``info iommu``)."""
        return {
            "base": self.base,
            "size": self.size,
            "device_table": self.devtab,
            "command_buffer": self.cmdbuf,
            "event_log": self.evtlog,
            "semaphore": self.semaphore,
            "page_tables": self.tables_start,
            "page_tables_used": self.tables_used,
        }


def set_translation(machine: Machine, on: bool) -> int:
    """Set or clear Control.IommuEn with a guest read-modify-write of the register, whoever
    programmed the rest (``iommu on|off``). Returns the value written."""
    control = machine.memory.load(AMDVI_BASE_ADDR + REG_CONTROL, 8)[1]
    control = control | CTRL_IOMMU_EN if on else control & ~CTRL_IOMMU_EN
    machine.memory.store(AMDVI_BASE_ADDR + REG_CONTROL, 8, control)
    return control


def acknowledge_events(machine: Machine) -> int:
    """What Linux's event handler does after reading the log: head = tail, then clear the
    W1C event bits in Status (``iommu faults --clear``). Returns the new head."""
    mem = machine.memory
    tail = mem.load(AMDVI_BASE_ADDR + REG_EVT_TAIL, 8)[1]
    mem.store(AMDVI_BASE_ADDR + REG_EVT_HEAD, 8, tail)
    mem.store(AMDVI_BASE_ADDR + REG_STATUS, 8, STATUS_EVENT_BITS)
    return tail
