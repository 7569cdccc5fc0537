"""Property tests of the re-entrancy guards over edu and e1000e-lite.

Random, bounded sequences of guest register writes (DMA addresses pointed at the devices'
own and each other's BARs included), descriptor writes, MSI programming and clock steps:

* with both guards on, the machine never reaches a modelled crash or hang;
* with the guards off it may, but nothing ever escapes as a Python exception (the
  monitor process survives whatever the modelled machine does), and system_reset always
  brings the machine back.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmamon.devices import Machine, PciDevice
from dmamon.devices.e1000e_lite import RxDesc, TxDesc
from hypothesis import event, given, settings
from hypothesis import strategies as st

EDU0, EDU1, NIC = 0xFE000000, 0xFE100000, 0xFEB00000
MASK = "dma_mask=0xffffffffffffffff"
DEVICES = (
    f"edu,id=edu0,dma_inline=on,busy_check=off,{MASK}",
    f"edu,id=edu1,dma_inline=off,busy_check=off,{MASK}",
    "e1000e-lite,id=nic0",
)
BARS = (EDU0, EDU1, NIC)
EDU_REGS = (0x04, 0x08, 0x20, 0x60, 0x64, 0x80, 0x88, 0x90, 0x98)
NIC_REGS = (0x0000, 0x00C0, 0x00C8, 0x00D0, 0x00D8, 0x0100, 0x0400, 0x2800, 0x2804, 0x2810)
NIC_REGS += (0x2818, 0x3800, 0x3804, 0x3810, 0x3818, 0x3840, 0x5400, 0x5404)
NIC_LEN_REGS = (0x2808, 0x3808)
RAM_AREAS = (0x10000, 0x20000, 0x30000, 0x40000, 0x100000)

# Addresses a device may be told to DMA to or from: RAM, edu's buffer, and every register.
TARGETS = (
    list(RAM_AREAS)
    + [0x40000]
    + [EDU0 + r for r in EDU_REGS]
    + [EDU1 + r for r in EDU_REGS]
    + [NIC + r for r in NIC_REGS + NIC_LEN_REGS]
)
values = st.one_of(
    st.integers(0, 16),
    st.sampled_from(TARGETS),
    st.sampled_from([0x1, 0x3, 0x5, 0x7, 0x42, 0x30042, 0x3004A, 0x2, 0x400]),
    st.integers(0, 0xFFFF_FFFF),
)


@dataclass(frozen=True)
class Op:
    kind: str  # mmio, ram, msi, step
    addr: int = 0
    size: int = 4
    value: int = 0
    data: bytes = b""


mmio_ops = st.one_of(
    st.builds(
        lambda bar, reg, size, v: Op("mmio", bar + reg, size, v),
        st.sampled_from([EDU0, EDU1]),
        st.sampled_from(EDU_REGS),
        st.sampled_from([4, 8]),
        values,
    ),
    st.builds(lambda reg, v: Op("mmio", NIC + reg, 4, v), st.sampled_from(NIC_REGS), values),
    # Ring lengths stay small so a sequence runs in milliseconds (the walk is bounded anyway).
    st.builds(
        lambda reg, v: Op("mmio", NIC + reg, 4, v),
        st.sampled_from(NIC_LEN_REGS),
        st.sampled_from([0, 0x80, 0x100, 0x200]),
    ),
)
descriptors = st.one_of(
    st.builds(
        lambda a, n, cmd: TxDesc.pack(a, n, cmd),
        st.sampled_from(TARGETS),
        st.integers(0, 300),
        st.sampled_from([0x0, 0x1, 0x8, 0x9, 0x29, 0xFF]),
    ),
    st.builds(RxDesc.pack, st.sampled_from(TARGETS)),
    st.binary(min_size=1, max_size=32),
)
ram_ops = st.builds(
    lambda area, slot, data: Op("ram", area + 16 * slot, data=data),
    st.sampled_from(RAM_AREAS),
    st.integers(0, 15),
    descriptors,
)
msi_ops = st.builds(
    lambda dev, addr: Op("msi", dev, value=addr), st.integers(0, 2), st.sampled_from(TARGETS)
)
# Whole programming steps, so that a short sequence often builds a complete scenario;
# "hot" addresses are the doorbells and the rings, where re-entry happens.
HOT = (EDU0 + 0x98, EDU1 + 0x98, NIC + 0x3818, NIC + 0x3810, NIC + 0x0400, 0x10000, 0x20000)
addresses = st.one_of(st.sampled_from(HOT), st.sampled_from(TARGETS))
edu_dma_ops = st.one_of(
    st.builds(  # device buffer -> anywhere (edu -> RAM)
        lambda bar, dst, n, cmd: [
            Op("mmio", bar + 0x80, 8, 0x40000),
            Op("mmio", bar + 0x88, 8, dst),
            Op("mmio", bar + 0x90, 8, n),
            Op("mmio", bar + 0x98, 8, cmd),
        ],
        st.sampled_from([EDU0, EDU1]),
        addresses,
        st.sampled_from([4, 8, 16, 0x18]),
        st.sampled_from([0x3, 0x7]),
    ),
    st.builds(  # anywhere -> device buffer (RAM -> edu)
        lambda bar, src, n, cmd: [
            Op("mmio", bar + 0x80, 8, src),
            Op("mmio", bar + 0x88, 8, 0x40000),
            Op("mmio", bar + 0x90, 8, n),
            Op("mmio", bar + 0x98, 8, cmd),
        ],
        st.sampled_from([EDU0, EDU1]),
        addresses,
        st.sampled_from([4, 8, 16]),
        st.sampled_from([0x1, 0x5]),
    ),
)
nic_setup_ops = st.builds(
    lambda tlen, rlen, rdt, rctl: [
        Op("mmio", NIC + 0x3800, 4, 0x10000),
        Op("mmio", NIC + 0x3808, 4, tlen),
        Op("mmio", NIC + 0x2800, 4, 0x20000),
        Op("mmio", NIC + 0x2808, 4, rlen),
        Op("mmio", NIC + 0x2818, 4, rdt),
        Op("mmio", NIC + 0x0100, 4, rctl),
        Op("mmio", NIC + 0x0400, 4, 0x2),
    ],
    st.sampled_from([0x80, 0x100]),
    st.sampled_from([0x80, 0x100]),
    st.integers(0, 8),
    st.sampled_from([0x42, 0x4A, 0x30042, 0x3004A, 0x2, 0x400004A]),
)
rx_ring_ops = st.lists(addresses, min_size=1, max_size=4).map(
    lambda bufs: [Op("ram", 0x20000 + 16 * i, data=RxDesc.pack(a)) for i, a in enumerate(bufs)]
)
frame_ops = st.builds(
    lambda slot, head, n, tail, kick: [
        Op("ram", 0x30000 + 0x400 * slot, data=(head + bytes(300))[: n - len(tail)] + tail),
        Op("ram", 0x10000 + 16 * slot, data=TxDesc.pack(0x30000 + 0x400 * slot, n, 0x9)),
        Op("mmio", NIC + 0x3818, 4, kick),
    ],
    st.integers(0, 7),
    st.sampled_from(
        [
            bytes.fromhex("525400123456525400abcdef0800"),
            bytes.fromhex("01000000000052540000000108000000"),
            b"\xff" * 6,
        ]
    ),
    st.sampled_from([14, 60, 64, 260, 300]),
    st.sampled_from([b"", (1).to_bytes(4, "little"), (3).to_bytes(4, "little")]),
    st.integers(0, 8),
)
DOORBELLS = (EDU0 + 0x98, EDU1 + 0x98, NIC + 0x3818)
edu_kick_ops = st.builds(  # a buffer -> doorbell DMA (Lab A1 and Li Qiang's cases)
    lambda bar, dst, cmd: [
        Op("mmio", bar + 0x80, 8, 0x40000),
        Op("mmio", bar + 0x88, 8, dst),
        Op("mmio", bar + 0x90, 8, 8),
        Op("mmio", bar + 0x98, 8, cmd),
    ],
    st.sampled_from([EDU0, EDU1]),
    st.sampled_from(DOORBELLS),
    st.sampled_from([0x3, 0x7]),
)
nic_loop_ops = st.builds(  # a looped-back frame whose second RX buffer is ``buf1`` (Lab A2)
    lambda buf1, n, tail, kick: [
        Op("ram", 0x20000, data=RxDesc.pack(0x40000) + RxDesc.pack(buf1)),
        Op("mmio", NIC + 0x2810, 4, 0),
        Op("ram", 0x30000, data=(bytes.fromhex("525400123456") + bytes(300))[: n - 4] + tail),
        Op("ram", 0x10000, data=TxDesc.pack(0x30000, n, 0x9) * 8),
        Op("mmio", NIC + 0x3818, 4, kick),
    ],
    st.one_of(st.sampled_from(DOORBELLS), addresses),
    st.sampled_from([260, 64, 300]),
    st.sampled_from([(1).to_bytes(4, "little"), (3).to_bytes(4, "little"), bytes(4)]),
    st.integers(0, 7),
)
edu_load_ops = st.builds(
    lambda bar, v: [
        Op("ram", 0x100000, data=v.to_bytes(8, "little")),
        Op("mmio", bar + 0x80, 8, 0x100000),
        Op("mmio", bar + 0x88, 8, 0x40000),
        Op("mmio", bar + 0x90, 8, 8),
        Op("mmio", bar + 0x98, 8, 1),
        Op("step"),
    ],
    st.sampled_from([EDU0, EDU1]),
    st.sampled_from([0x3, 0x7, 0x1, 0x12345678, 0x10000]),
)
single = st.one_of(mmio_ops, mmio_ops, ram_ops, msi_ops, st.just(Op("step"))).map(lambda o: [o])
ops = st.lists(
    st.one_of(
        single,
        edu_load_ops,
        edu_dma_ops,
        edu_kick_ops,
        nic_setup_ops,
        rx_ring_ops,
        frame_ops,
        nic_loop_ops,
    ),
    min_size=1,
    max_size=14,
).map(lambda groups: [op for g in groups for op in g])


def build(guards: bool) -> Machine:
    """The three devices mapped, both edu buffers holding RUN|TO_RAM (a DMA of it into a
    command register starts another DMA), and the NIC in MAC loopback with rings in RAM."""
    m = Machine(devices=list(DEVICES))
    m.engine.fixes.set("reentrancy-guard", guards)
    m.engine.fixes.set("bh-guard", guards)
    m.engine.watchdog_steps = 20_000  # a modelled hang is found fast; the walks are short
    map_bars(m)
    m.memory.write(0x100000, (3).to_bytes(8, "little"))
    for bar in (EDU0, EDU1):
        for reg, v in ((0x80, 0x100000), (0x88, 0x40000), (0x90, 8), (0x98, 1)):
            m.memory.store(bar + reg, 8, v)
    m.step(200_000_000)
    for reg, v in ((0x3800, 0x10000), (0x3808, 0x80), (0x2800, 0x20000), (0x2808, 0x80)):
        m.memory.store(NIC + reg, 4, v)
    for reg, v in ((0x2818, 2), (0x0100, 0x3004A), (0x0400, 0x2)):
        m.memory.store(NIC + reg, 4, v)
    m.memory.write(0x20000, RxDesc.pack(0x40000) + RxDesc.pack(0x50000))
    m.engine.tracer.ring.clear()
    return m


def map_bars(m: Machine) -> None:
    io = m.io_as
    for slot, bar in enumerate(BARS, start=1):
        cfg = 0x80000000 | slot << 11
        io.store(0xCF8, 4, cfg | 0x10)
        io.store(0xCFC, 4, bar)
        io.store(0xCF8, 4, cfg | 0x04)
        io.store(0xCFC, 2, 0x0006)


def apply(m: Machine, op: Op) -> None:
    if op.kind == "mmio":
        m.memory.store(op.addr, op.size, op.value & ((1 << (8 * op.size)) - 1))
    elif op.kind == "ram":
        m.memory.write(op.addr, op.data)
    elif op.kind == "msi":
        dev = m.devices[("edu0", "edu1", "nic0")[op.addr]]
        assert isinstance(dev, PciDevice)
        cap = dev.msi_cap  # the guest points MSI anywhere, its own registers included
        dev.config_write(cap + 4, op.value & 0xFFFFFFFC, 4)
        dev.config_write(cap + 8, 0, 4)
        dev.config_write(cap + 12, 0x3, 2)
        dev.config_write(cap + 2, 0x1, 2)
    else:
        m.step(100_000_000)
    m.after_command()


@settings(max_examples=100, deadline=None)
@given(ops)
def test_with_both_guards_on_no_sequence_crashes_or_hangs_the_machine(seq: list[Op]) -> None:
    m = build(guards=True)
    for op in seq:
        apply(m, op)
        assert m.run_state == "running", (op, m.engine.halt and m.engine.halt.report())
    blocked = any(r.text.startswith("warning: Blocked") for r in m.engine.tracer.ring)
    event("a re-entrant access was blocked" if blocked else "nothing was blocked")


@settings(max_examples=100, deadline=None)
@given(ops)
def test_with_the_guards_off_only_the_modelled_machine_fails_never_the_process(
    seq: list[Op],
) -> None:
    m = build(guards=False)
    for op in seq:
        apply(m, op)  # any exception here fails the test: nothing may escape
        assert m.run_state in ("running", "crashed", "hung")
        assert m.engine.active == 0 and m.engine.io_chain == []
        assert not any(d.guard.engaged_in_io for d in m.devices.values())
    event(f"ended {m.run_state}")
    m.system_reset()
    assert m.run_state == "running"
    map_bars(m)
    assert m.memory.load(EDU0, 4)[1] == 0x010000ED
    assert m.memory.load(NIC + 0x8, 4)[1] == 0x00080283


def test_the_known_crashes_are_reachable_with_the_guards_off() -> None:
    """The properties are not vacuous: the guard-off run above can reach crashes."""
    m = build(guards=False)
    apply(m, Op("ram", 0x100000, data=(3).to_bytes(8, "little")))
    for reg, v in ((0x80, 0x100000), (0x88, 0x40000), (0x90, 8), (0x98, 1)):
        apply(m, Op("mmio", EDU0 + reg, 8, v))
    for reg, v in ((0x80, 0x40000), (0x88, EDU0 + 0x98), (0x90, 8), (0x98, 3)):
        apply(m, Op("mmio", EDU0 + reg, 8, v))
    assert m.run_state == "crashed"
