"""The conformance programs: PCI, edu registers, edu DMA, and seeded random edu traffic.

Each builder returns :class:`harness.Program` objects. Addresses follow QEMU's q35 with
``-nodefaults -device edu``: edu is 00:01.0 (config address 0x80000800), its BAR0 is
placed at 0xfe000000 as in the reference transcripts, and its INTA reaches GSI 21.
"""

from __future__ import annotations

import os
import random

from conformance_harness import Program

RANDOM_COUNT = int(os.environ.get("DMAMON_CONFORMANCE_RANDOM", "240"))
RANDOM_SEED = int(os.environ.get("DMAMON_CONFORMANCE_SEED", "6000"))
EDU = 0xFE000000
EDU_CFG = 0x80000800  # bus 0, slot 1, function 0
GSI = 21
DMA_WAIT = "wait 150000000"  # edu DMA fires 100 ms (of the ms clock) after the command
FACT_WAIT = "wait 1000000"  # QEMU's factorial thread needs no clock; dmamon's takes 1 us


def cfg(devfn_addr: int, reg: int) -> str:
    return f"outl 0xcf8 {devfn_addr | reg:#x}"


def edu_on(command: int = 0x0006) -> tuple[str, ...]:
    """BAR0 at EDU and COMMAND (default MEMORY | MASTER), as run2 does."""
    return (
        cfg(EDU_CFG, 0x10),
        f"outl 0xcfc {EDU:#x}",
        cfg(EDU_CFG, 0x04),
        f"outw 0xcfc {command:#06x}",
    )


def clean_slate() -> tuple[str, ...]:
    """Known edu state at the start of a program that shares its batch."""
    return (*edu_on(), f"writel {EDU + 0x64:#x} 0xffffffff", f"writel {EDU + 0x20:#x} 0")


def reg(off: int) -> int:
    return EDU + off


# --- PCI ------------------------------------------------------------------------------------


def pci_programs() -> list[Program]:
    enum: list[str] = []
    for slot in range(31):
        enum += [cfg(0x80000000 | slot << 11, 0), "inl 0xcfc"]
    for slot in (0, 1):
        for fn in range(1, 8):
            enum += [cfg(0x80000000 | slot << 11 | fn << 8, 0), "inl 0xcfc"]
    enum += [cfg(0x00000000, 0), "inl 0xcfc", "inl 0xcf8"]  # enable bit clear: all ones
    enum += [cfg(0x80010000, 0), "inl 0xcfc"]  # bus 1 does not exist
    header: list[str] = []
    for off in range(0, 0x40, 4):
        header += [cfg(EDU_CFG, off), "inl 0xcfc", "inw 0xcfc", "inb 0xcfe"]
    msi: list[str] = []
    for off in range(0x40, 0x58, 4):
        msi += [cfg(EDU_CFG, off), "inl 0xcfc"]
    mch: list[str] = []
    for off in (0x00, 0x08, 0x2C, 0x3C):
        mch += [cfg(0x80000000, off), "inl 0xcfc"]
    sizing = [
        cfg(EDU_CFG, 0x10),
        "outl 0xcfc 0xffffffff",
        "inl 0xcfc",  # 1 MiB, 32-bit, non-prefetchable: 0xfff00000
    ]
    for bar in range(1, 6):
        sizing += [cfg(EDU_CFG, 0x10 + 4 * bar), "outl 0xcfc 0xffffffff", "inl 0xcfc"]
    sizing += [cfg(EDU_CFG, 0x30), "outl 0xcfc 0xfffff800", "inl 0xcfc"]  # no ROM
    sizing += [cfg(0x80000000, 0x10), "outl 0xcfc 0xffffffff", "inl 0xcfc"]  # mch: none
    sizing += [
        cfg(EDU_CFG, 0x10),
        f"outl 0xcfc {EDU:#x}",
        "inl 0xcfc",
        f"readl {EDU:#x}",  # COMMAND.MEMORY still clear: nothing decodes there
        cfg(EDU_CFG, 0x04),
        "outw 0xcfc 0x0002",
        "inl 0xcfc",
        f"readl {EDU:#x}",
        "outw 0xcfc 0x0000",
        f"readl {EDU:#x}",
        "outw 0xcfc 0xffff",  # only the writable COMMAND bits stick
        "inw 0xcfc",
    ]
    move = [
        *edu_on(),
        f"readl {EDU:#x}",
        cfg(EDU_CFG, 0x10),
        "outl 0xcfc 0xfe100000",
        f"readl {EDU:#x}",
        "readl 0xfe100000",
        f"outl 0xcfc {EDU:#x}",
        "readl 0xfe100000",
        f"readl {EDU:#x}",
    ]
    ints = [
        cfg(EDU_CFG, 0x3C),
        "outb 0xcfc 0x0b",
        "inl 0xcfc",
        "outl 0xcfc 0xffffffff",
        "inl 0xcfc",
    ]
    return [
        Program("pci-enumerate-slots-0-30", tuple(enum)),
        Program("pci-edu-header", tuple(header)),
        Program("pci-edu-msi-capability", tuple(msi)),
        Program("pci-mch-identity", tuple(mch)),
        Program("pci-bar-sizing-and-command", tuple(sizing)),
        Program("pci-bar-move", tuple(move)),
        Program("pci-interrupt-line-and-pin", tuple(ints)),
    ]


def ich9_program() -> Program:
    """QEMU's q35 always has the ICH9 LPC (1f.0), AHCI (1f.2) and SMBus (1f.3)."""
    lines: list[str] = []
    for fn in (0, 2, 3):
        lines += [cfg(0x8000F800 | fn << 8, 0), "inl 0xcfc"]
    return Program("pci-ich9-functions", tuple(lines))


def unassigned_io_program() -> Program:
    """Ports nothing decodes read as all ones (QEMU's ``io`` region, unassigned_io_ops)."""
    return Program("io-unassigned-ports", ("inb 0x80", "inw 0x1234", "inl 0xc000", "outb 0x80 1"))


# --- edu registers --------------------------------------------------------------------------


def edu_register_programs() -> list[Program]:
    liveness = [*clean_slate(), f"readl {reg(0):#x}"]
    for v in (0, 1, 0x12345678, 0xFFFFFFFF, 0x80000000):
        liveness += [f"writel {reg(4):#x} {v:#x}", f"readl {reg(4):#x}"]
    # 8-byte writes below 0x80 are ignored; one at 0x04 would be split into 0x04 and 0x08
    # (memory_access_size: unaligned) and start a factorial of its high half.
    liveness += [f"writeq {reg(0):#x} 0x1122334455667788", f"readl {reg(4):#x}"]
    liveness += [f"writeb {reg(4):#x} 0x55", f"writew {reg(4):#x} 0x5555", f"readl {reg(4):#x}"]

    fact = list(clean_slate())
    for n in (0, 1, 5, 10, 12, 13, 20, 34, 35):  # 34! and above wrap to 0 in 32 bits
        fact += [f"writel {reg(8):#x} {n:#x}", FACT_WAIT]
        fact += [f"readl {reg(0x20):#x}", f"readl {reg(8):#x}", f"readl {reg(0x24):#x}"]

    fact_irq = [
        *clean_slate(),
        "irq_intercept_in ioapic",
        f"writel {reg(0x20):#x} 0x80",
        f"readl {reg(0x20):#x}",
        f"writel {reg(8):#x} 6",
        FACT_WAIT,
        f"readl {reg(8):#x}",
        f"readl {reg(0x24):#x}",
        f"writel {reg(0x64):#x} 1",
        f"readl {reg(0x24):#x}",
        f"writel {reg(0x20):#x} 0x7f",  # only irq_fact is writable
        f"readl {reg(0x20):#x}",
        f"writel {reg(8):#x} 3",
        FACT_WAIT,
        f"readl {reg(0x24):#x}",
    ]

    irq = [
        *clean_slate(),
        "irq_intercept_in ioapic",
        f"readl {reg(0x24):#x}",
        f"writel {reg(0x60):#x} 0x1",
        f"readl {reg(0x24):#x}",
        f"writel {reg(0x60):#x} 0x100",
        f"readl {reg(0x24):#x}",
        f"writel {reg(0x64):#x} 0x1",
        f"readl {reg(0x24):#x}",
        f"writel {reg(0x64):#x} 0x100",
        f"readl {reg(0x24):#x}",
        f"writel {reg(0x60):#x} 0",
        f"writel {reg(0x64):#x} 0",
        f"writel {reg(0x60):#x} 0x80000000",
        f"writeq {reg(0x60):#x} 0x1",  # an 8-byte access below 0x80 is ignored
        f"writel {reg(0x24):#x} 0",  # irq_status is read-only
        f"readl {reg(0x24):#x}",
        f"readl {reg(0x60):#x}",  # write-only registers read as all ones
        f"readl {reg(0x64):#x}",
        cfg(EDU_CFG, 0x04),
        "inl 0xcfc",  # PCI status.INTERRUPT set
        f"writel {reg(0x64):#x} 0xffffffff",
        "inl 0xcfc",
    ]

    intx_masked = [
        *clean_slate(),
        "irq_intercept_in ioapic",
        cfg(EDU_CFG, 0x04),
        "outw 0xcfc 0x0406",  # COMMAND.INTX_DISABLE: the line stays low
        f"writel {reg(0x60):#x} 1",
        "inl 0xcfc",  # ... but status.INTERRUPT is set
        f"writel {reg(0x64):#x} 1",
        "inl 0xcfc",
        "outw 0xcfc 0x0006",
    ]

    msi = [
        *clean_slate(),
        "irq_intercept_in ioapic",
        cfg(EDU_CFG, 0x44),
        "outl 0xcfc 0xfee00000",
        cfg(EDU_CFG, 0x4C),
        "outw 0xcfc 0x0041",
        cfg(EDU_CFG, 0x40),
        "outl 0xcfc 0x00010005",  # MSI enable
        "inl 0xcfc",
        f"writel {reg(0x60):#x} 1",  # a message, not an INTx: no IRQ line
        f"readl {reg(0x24):#x}",
        f"writel {reg(0x64):#x} 1",
        f"readl {reg(0x24):#x}",
        "outl 0xcfc 0x00000005",
        "inl 0xcfc",
    ]

    sizes = list(clean_slate())
    for off in (0x00, 0x04, 0x08, 0x20, 0x24, 0x7C, 0x80, 0x84, 0x88, 0x8C, 0x90, 0x98, 0x9C):
        for r in ("readb", "readw", "readl", "readq"):
            sizes.append(f"{r} {reg(off):#x}")
    sizes += [f"read {reg(0):#x} 8", f"read {reg(0x80):#x} 16", f"b64read {reg(0x04):#x} 4"]
    for off in (0x02, 0x06, 0x81, 0x82, 0x84, 0x100, 0x1000, 0xFFFFC):
        sizes += [f"readl {reg(off):#x}", f"readq {reg(off):#x}"]

    dma_regs = [
        *clean_slate(),
        f"writeq {reg(0x80):#x} 0x1122334455667788",
        f"readq {reg(0x80):#x}",
        f"readl {reg(0x80):#x}",
        f"readl {reg(0x84):#x}",
        f"writel {reg(0x80):#x} 0xabcdef01",  # a 4-byte write replaces the whole value
        f"readq {reg(0x80):#x}",
        f"writel {reg(0x84):#x} 0x5",  # nothing at 0x84
        f"readq {reg(0x80):#x}",
        f"writeq {reg(0x88):#x} 0x40000",
        f"writew {reg(0x88):#x} 0x1",
        f"readq {reg(0x88):#x}",
        f"writeq {reg(0x90):#x} 0x10",
        f"readq {reg(0x90):#x}",
        f"writeq {reg(0x98):#x} 0x6",  # no RUN bit: ignored
        f"readq {reg(0x98):#x}",
        f"write {reg(0x90):#x} 8 0x2000000000000000",
        f"readq {reg(0x90):#x}",
    ]
    return [
        Program("edu-liveness", tuple(liveness)),
        Program("edu-factorial", tuple(fact)),
        Program("edu-factorial-irq", tuple(fact_irq)),
        Program("edu-irq-status-raise-ack", tuple(irq)),
        Program("edu-intx-disable", tuple(intx_masked)),
        Program("edu-msi", tuple(msi)),
        Program("edu-access-sizes", tuple(sizes)),
        Program("edu-dma-registers", tuple(dma_regs)),
    ]


def intx_unmask_program() -> Program:
    """Clearing COMMAND.INTX_DISABLE delivers an INTx that is pending (QEMU
    pci_update_irq_disabled), and setting it takes an asserted line down."""
    return Program(
        "edu-intx-unmask-delivers-pending",
        (
            *clean_slate(),
            "irq_intercept_in ioapic",
            cfg(EDU_CFG, 0x04),
            "outw 0xcfc 0x0406",
            f"writel {reg(0x60):#x} 1",
            "outw 0xcfc 0x0006",
            "outw 0xcfc 0x0406",
            "outw 0xcfc 0x0006",
            f"writel {reg(0x64):#x} 1",
            "inl 0xcfc",
        ),
    )


def factorial_without_clock_program() -> Program:
    """A client that polls the factorial later without letting virtual time pass (QEMU
    computes it on a thread, off the virtual clock)."""
    return Program(
        "edu-factorial-without-time",
        (
            *clean_slate(),
            f"writel {reg(8):#x} 5",
            "sleep 0.05",
            f"readl {reg(0x20):#x}",
            f"readl {reg(8):#x}",
        ),
    )


# --- edu DMA --------------------------------------------------------------------------------


def dma(src: int, dst: int, count: int, cmd: int) -> tuple[str, ...]:
    return (
        f"writeq {reg(0x80):#x} {src:#x}",
        f"writeq {reg(0x88):#x} {dst:#x}",
        f"writeq {reg(0x90):#x} {count:#x}",
        f"writeq {reg(0x98):#x} {cmd:#x}",
    )


def edu_dma_programs() -> list[Program]:
    round_trip = [
        *clean_slate(),
        "memset 0x1000000 64 0x5a",
        "write 0x1000000 8 0xcafef00d01020304",
        "memset 0x1100000 64 0x00",
        *dma(0x1000000, 0x40000, 64, 1),
        f"readq {reg(0x98):#x}",
        DMA_WAIT,
        f"readq {reg(0x98):#x}",
        *dma(0x40000, 0x1100000, 64, 3),
        DMA_WAIT,
        f"readq {reg(0x98):#x}",
        "read 0x1100000 64",
        f"readl {reg(0x24):#x}",
    ]
    with_irq = [
        *clean_slate(),
        "irq_intercept_in ioapic",
        "write 0x2000000 4 0x11223344",
        *dma(0x2000000, 0x40800, 4, 0x5),
        DMA_WAIT,
        f"readl {reg(0x24):#x}",
        f"readq {reg(0x98):#x}",
        f"writel {reg(0x64):#x} 0x100",
        *dma(0x40800, 0x2000010, 4, 0x7),
        DMA_WAIT,
        "read 0x2000010 4",
        f"writel {reg(0x64):#x} 0x100",
    ]
    no_master = [
        *clean_slate(),
        "write 0x3000000 8 0x0102030405060708",
        *dma(0x3000000, 0x40100, 8, 1),
        DMA_WAIT,
        *edu_on(0x0002),  # bus mastering off: edu's DMA reaches nothing
        "write 0x3000100 8 0xaaaaaaaaaaaaaaaa",
        *dma(0x40100, 0x3000100, 8, 3),
        DMA_WAIT,
        f"readq {reg(0x98):#x}",
        "read 0x3000100 8",
        *dma(0x3000000, 0x40100, 8, 1),  # the buffer gets zeros from nowhere
        DMA_WAIT,
        *edu_on(0x0006),
        *dma(0x40100, 0x3000200, 8, 3),
        DMA_WAIT,
        "read 0x3000200 8",
    ]
    busy = [
        *clean_slate(),
        *dma(0x1000000, 0x40000, 16, 1),
        f"writeq {reg(0x80):#x} 0x123",
        f"writeq {reg(0x88):#x} 0x456",
        f"writeq {reg(0x90):#x} 0x789",
        f"writeq {reg(0x98):#x} 0x7",
        f"readq {reg(0x80):#x}",
        f"readq {reg(0x88):#x}",
        f"readq {reg(0x90):#x}",
        f"readq {reg(0x98):#x}",
        DMA_WAIT,
        f"readq {reg(0x98):#x}",
        f"writeq {reg(0x80):#x} 0x123",
        f"readq {reg(0x80):#x}",
    ]
    clamp = [  # edu_clamp_addr: the 28-bit DMA mask folds 0x11000000 onto 0x1000000
        *clean_slate(),
        "write 0x1000400 4 0xa1b2c3d4",
        *dma(0x11000400, 0x40200, 4, 1),
        DMA_WAIT,
        *dma(0x40200, 0x11000500, 4, 3),
        DMA_WAIT,
        "read 0x1000500 4",
        "read 0x11000500 4",
    ]
    return [
        Program("edu-dma-round-trip", tuple(round_trip)),
        Program("edu-dma-irq", tuple(with_irq)),
        Program("edu-dma-without-bus-mastering", tuple(no_master)),
        Program("edu-dma-busy-ignores-writes", tuple(busy)),
        Program("edu-dma-address-mask", tuple(clamp)),
    ]


def out_of_range_program(name: str, src: int, dst: int, count: int, cmd: int, on: bool) -> Program:
    """A DMA outside edu's 4 KiB buffer: QEMU 7.2 hw_error()s (abort, exit 134)."""
    return Program(
        name,
        (
            *clean_slate(),
            "write 0x1000000 4 0x01020304",
            "memset 0x1200000 16 0xee",
            *dma(src, dst, count, cmd),
            DMA_WAIT,
            f"readq {reg(0x98):#x}",
            "read 0x1200000 16",
        ),
        fixes=(("edu-dma-bounds", on),),
        solo=True,
    )


# --- random traffic -------------------------------------------------------------------------

OFFSETS = (0x00, 0x04, 0x08, 0x20, 0x24, 0x60, 0x64, 0x80, 0x84, 0x88, 0x8C, 0x90, 0x94, 0x98)


def _value(rng: random.Random) -> int:
    return rng.choice(
        [0, 1, rng.getrandbits(8), rng.getrandbits(32), rng.getrandbits(64), 0xFFFFFFFF]
    )


def random_program(seed: int) -> Program:
    """Seeded random edu register traffic: accesses of every width at register and other
    offsets, IRQ raise/ack, status, factorials (then a short wait) and, in some programs,
    one in-range DMA followed by its wait."""
    rng = random.Random(seed)
    lines = list(clean_slate())
    if rng.random() < 0.5:
        lines.append("irq_intercept_in ioapic")
    for _ in range(rng.randint(8, 24)):
        kind = rng.random()
        off = rng.choice(OFFSETS) if rng.random() < 0.8 else rng.randrange(0, 0x200)
        if kind < 0.35:
            lines.append(
                f"{rng.choice(['readb', 'readw', 'readl', 'readl', 'readq'])} {reg(off):#x}"
            )
        elif kind < 0.65:
            width = rng.choice(["writeb", "writew", "writel", "writel", "writeq"])
            value = _value(rng)
            # No factorial and no DMA start outside their own steps. An 8-byte write at
            # an offset that is 4 mod 8 is split in two 4-byte writes (QEMU
            # memory_access_size), so its high half lands on the next register.
            if width == "writeq" and off % 8 == 4:
                off -= 4
            if off in (0x08, 0x0C):
                off = 0x20
            if off in (0x98, 0x9C):
                off = 0x98
                value &= ~1
            lines.append(f"{width} {reg(off):#x} {value:#x}")
        elif kind < 0.75:
            lines.append(f"writel {reg(rng.choice([0x60, 0x64])):#x} {_value(rng) & 0xFFFFFFFF:#x}")
        elif kind < 0.82:
            lines.append(f"writel {reg(0x20):#x} {rng.choice([0, 0x80, 0xFF]):#x}")
        elif kind < 0.88:
            lines += [f"writel {reg(8):#x} {rng.randrange(0, 40)}", FACT_WAIT]
            lines += [f"readl {reg(0x20):#x}", f"readl {reg(8):#x}"]
        elif kind < 0.94:
            lines += [
                cfg(EDU_CFG, rng.randrange(0, 0x100, 4)),
                rng.choice(["inl 0xcfc", "inw 0xcfe", "inb 0xcfd"]),
            ]
        else:
            lines += [f"readl {reg(0x24):#x}", f"readq {reg(0x98):#x}"]
    if rng.random() < 0.1:
        count = rng.randrange(1, 0x100)
        buf = 0x40000 + rng.randrange(0, 0x1000 - count - 1)  # strictly inside (7.2's test)
        ram = 0x1000000 + rng.randrange(0, 0x100000, 8)
        to_ram = rng.random() < 0.5
        cmd = 1 | (2 if to_ram else 0) | (4 if rng.random() < 0.5 else 0)
        src, dst = (buf, ram) if to_ram else (ram, buf)
        lines += [f"memset {ram:#x} {count:#x} {rng.getrandbits(8):#x}", *dma(src, dst, count, cmd)]
        lines += [DMA_WAIT, f"readq {reg(0x98):#x}", f"readl {reg(0x24):#x}"]
        lines += [f"read {ram:#x} {count:#x}"]
    lines.append(f"writel {reg(0x64):#x} 0xffffffff")
    return Program(f"random-{seed}", tuple(lines))


def random_programs(first_seed: int, count: int) -> list[Program]:
    return [random_program(first_seed + k) for k in range(count)]


OUT_OF_RANGE = {  # name -> (src, dst, count, cmd); QEMU 7.2 aborts on every one
    "edu-dma-out-of-range-to-ram": (0x41000, 0x1200000, 16, 3),
    "edu-dma-out-of-range-from-ram": (0x1000000, 0x40FF8, 16, 1),
    "edu-dma-ending-at-the-buffer-end": (0x40000, 0x1200000, 0x1000, 3),
    "edu-dma-of-zero-bytes": (0x40000, 0x1200000, 0, 3),
}


def out_of_range_programs() -> list[Program]:
    out = []
    for name, (src, dst, count, cmd) in OUT_OF_RANGE.items():
        for on in (False, True):
            suffix = "bounds-on" if on else "bounds-off"
            out.append(out_of_range_program(f"{name}-{suffix}", src, dst, count, cmd, on))
    return out
