"""Memory commands: QEMU HMP's ``xp``/``x``/``print``/``i``/``o``/``pmemsave``/``sum``,
and DMA as a device makes it (``dma read|write``), which HMP lacks."""

from __future__ import annotations

from pathlib import Path

from dmamon import ops
from dmamon.argspec import HMP_COUNT_ERRORS, arg
from dmamon.devices import PciDevice
from dmamon.hmpexpr import require_int32
from dmamon.memory import DmaResult, MemTxResult
from dmamon.monitor import Monitor, MonitorError, command, os_reason, split_words, subcommand
from dmamon.render import (
    bsd_checksum,
    checksum_line,
    dump_chunks,
    memory_dump,
    port_value,
    print_value,
)
from dmamon.views import sentence_case

AREA = "Memory"
MAX_DUMP = 1 << 20  # a dump larger than this is a typo, not a wish


_FMT = arg("fmt", "fmt", optional=True, default="", metavar="/FMT")


def _dump(mon: Monitor, name: str, spec: str, addr: int) -> None:
    fmt = mon.fmt_state.parse(spec, dump_command=name)
    if fmt.nbytes > MAX_DUMP:
        raise MonitorError(f"{name}: {fmt.nbytes} bytes is more than {MAX_DUMP} a dump may show")
    data = bytearray()
    # QEMU reads one output line at a time and stops at the first failed line.
    for a, n in dump_chunks(addr, fmt):
        res, chunk = mon.machine.memory.read(a, n)
        if res != MemTxResult.OK:
            break
        data += chunk
    mon.value = int.from_bytes(data[: fmt.size], "little") if data and fmt.size > 0 else None
    mon.data = {"addr": addr, "bytes": data.hex(), "complete": len(data) == fmt.nbytes}
    for line in memory_dump(addr, bytes(data), fmt):
        mon.out(line)


@command(
    "xp",
    "/fmt addr",
    "physical memory dump starting at 'addr'",
    AREA,
    args=(_FMT, arg("addr", "hmpexpr")),
    usage=HMP_COUNT_ERRORS,
)
def xp(mon: Monitor, *, fmt: str, addr: int) -> None:
    _dump(mon, "xp", fmt, addr)


@command(
    "x",
    "/fmt addr",
    "virtual memory dump starting at 'addr'",
    AREA,
    details="dmamon's machine has no CPU and no paging: virtual equals physical.",
    args=(_FMT, arg("addr", "hmpexpr")),
    usage=HMP_COUNT_ERRORS,
)
def x(mon: Monitor, *, fmt: str, addr: int) -> None:
    _dump(mon, "x", fmt, addr)


@command(
    "print",
    "/fmt expr",
    "print expression value (use $reg for CPU register access)",
    AREA,
    aliases=("p",),
    args=(_FMT, arg("value", "hmpexpr", metavar="EXPR")),
    usage=HMP_COUNT_ERRORS,
)
def print_(mon: Monitor, *, fmt: str, value: int) -> None:
    mon.value = value
    mon.data = {"value": value}
    mon.out(print_value(value, mon.fmt_state.parse(fmt)))


_PORT_SIZES = {1: 1, 2: 2, 4: 4, 8: 1}


@command(
    "i",
    "/fmt addr",
    "I/O port read",
    AREA,
    args=(_FMT, arg("port", "hmpexpr")),
    usage=HMP_COUNT_ERRORS,
)
def port_in(mon: Monitor, *, fmt: str, port: int) -> None:
    width = mon.fmt_state.parse(fmt).size
    require_int32(port, "i")
    size = _PORT_SIZES.get(width, 1)
    _, value = mon.machine.io_as.load(port & 0xFFFF, size)
    mon.value = value
    mon.data = {"port": port, "size": size, "value": value}
    mon.out(port_value(width, port, value))


@command(
    "o",
    "/fmt addr value",
    "I/O port write",
    AREA,
    args=(_FMT, arg("port", "hmpexpr"), arg("value", "hmpexpr")),
    usage=HMP_COUNT_ERRORS,
)
def port_out(mon: Monitor, *, fmt: str, port: int, value: int) -> None:
    size = mon.fmt_state.parse(fmt).size
    if size == 8:
        raise MonitorError("invalid char in format: 'g'")
    require_int32(port, "o")
    require_int32(value, "o")
    mon.machine.io_as.store(port & 0xFFFF, size, value)


@command(
    "pmemsave",
    "addr size file",
    "save to disk physical memory dump starting at 'addr' of size 'size'",
    AREA,
    complete=("symbol", "symbol", "file"),
)
def pmemsave(mon: Monitor, args: str) -> None:
    # The file name is the last word. QEMU reads ` /dir/x.bin` as a division and fails with
    # "invalid char 'd' in expression" unless quoted; dmamon takes the path as it is meant.
    words = split_words(args)
    if len(words) < 3:
        if len(words) == 2:
            raise MonitorError("pmemsave: string expected")
        raise MonitorError("unexpected end of expression")
    path = Path(words[-1])
    (addr, size), tail = mon.exprs(" ".join(words[:-1]), 2, "pmemsave")
    if tail:
        raise MonitorError("pmemsave: extraneous characters at the end of line")
    if size > 1 << 32:
        raise MonitorError(f"pmemsave: size {size:#x} is larger than 4 GiB")
    try:
        with path.open("wb") as f:
            ops.save_memory(mon.machine, addr, size, f)
    except OSError as e:
        raise MonitorError(f"Could not open '{path}': {os_reason(e)}") from None


@command(
    "sum",
    "addr size",
    "compute the checksum of a memory region",
    AREA,
    args=(arg("addr", "hmpexpr"), arg("size", "hmpexpr")),
    usage=HMP_COUNT_ERRORS,
)
def sum_(mon: Monitor, *, addr: int, size: int) -> None:
    require_int32(addr, "sum")
    require_int32(size, "sum")
    end = (addr + size) & 0xFFFFFFFF  # QEMU's 32-bit arithmetic
    data = _ldub_span(mon, addr, end) if end > addr else b""
    value = bsd_checksum(data)
    mon.value = value
    mon.data = {"sum": value}
    mon.out(checksum_line(value))


def _ldub_span(mon: Monitor, addr: int, end: int) -> bytes:
    """Bytes ``addr..end`` as QEMU's ``hmp_sum`` reads them: one ``address_space_ldub`` each.
    An I/O region refuses a 1-byte access when 1 is not a valid size (edu's MMIO reads 0,
    logged under guest_errors), unlike ``xp``, which widens the access. RAM spans are read
    at once: the same bytes, faster."""
    memory = mon.machine.memory
    out = bytearray()
    while addr < end:
        fr = memory.lookup(addr)
        mr = None if fr is None else fr.region
        if fr is not None and mr is not None and mr.ram is not None:
            n = min(end, fr.end) - addr
            out += memory.read(addr, n)[1]
            addr += n
            continue
        if fr is None:  # a hole: each ldub reads 0 (unassigned_mem_read), silently
            nxt = memory.flatview.next_start_after(addr)
            n = min(end, nxt if nxt is not None else end) - addr
            out += bytes(n)
            addr += n
            continue
        if mr is None or mr.ops is None:
            out += memory.read(addr, 1)[1]
        else:
            off = fr.offset_in_region + addr - fr.start
            out.append(memory.dispatch_read(mr, off, 1)[1] & 0xFF)
        addr += 1
    return bytes(out)


def _dma_device(mon: Monitor, name: str) -> PciDevice:
    try:
        dev = mon.machine.device(name)
    except KeyError as e:
        raise MonitorError(f"dma: {sentence_case(str(e.args[0]))}") from None
    if not isinstance(dev, PciDevice) or dev.dma is None:
        raise MonitorError(f"dma: device '{name}' cannot master the bus")
    return dev


@command(
    "dma",
    "read|write dev addr len|data",
    "DMA as a device does it, through its bus-master view (IOMMU included)",
    "DMA",
    details=(
        "dma read DEV ADDR LEN      read LEN bytes at bus address ADDR as DEV\n"
        "dma write DEV ADDR 0xHEX   write the bytes of 0xHEX (memory order) at ADDR as DEV\n"
        "The transaction result is shown (MEMTX_OK, MEMTX_DECODE_ERROR, ...), with the first\n"
        "failing address and the IOMMU's explanation when a translation was refused."
    ),
    args=(),
)
def dma(mon: Monitor) -> None:
    raise MonitorError("usage: " + _DMA_USAGE)


_DMA_USAGE = "dma read DEV ADDR LEN | dma write DEV ADDR 0xHEXDATA"
_DMA_DEV = arg("dev", metavar="DEV", complete="device")  # a word: _dma_device explains


@subcommand(
    "dma",
    "read",
    args=(_DMA_DEV, arg("addr", "expr"), arg("length", "expr", metavar="LEN")),
    usage=_DMA_USAGE,
)
def dma_read(mon: Monitor, *, dev: str, addr: int, length: int) -> None:
    device = _dma_device(mon, dev)
    if length == 0 or length > MAX_DUMP:
        raise MonitorError(f"dma: length must be 1..{MAX_DUMP}")
    assert device.dma is not None
    _dma_report(mon, device, "read", addr, device.dma.read(addr, length))


@subcommand(
    "dma", "write", args=(_DMA_DEV, arg("addr", "expr"), arg("data", metavar="0xHEXDATA")),
    usage=_DMA_USAGE,
)  # fmt: skip
def dma_write(mon: Monitor, *, dev: str, addr: int, data: str) -> None:
    device = _dma_device(mon, dev)
    if not data.startswith("0x") or len(data) % 2 or len(data) < 4:
        raise MonitorError("dma: data must be 0x followed by an even number of hex digits")
    try:
        raw = bytes.fromhex(data[2:])
    except ValueError:
        raise MonitorError(f"dma: bad hex data {data!r}") from None
    assert device.dma is not None
    _dma_report(mon, device, "write", addr, device.dma.write(addr, raw), raw)


def _dma_report(
    mon: Monitor, dev: PciDevice, op: str, addr: int, res: DmaResult, written: bytes = b""
) -> None:
    name = dev.name
    data = res.data if op == "read" else written
    mon.value = res.result.qemu_name()
    mon.data = {
        "device": name,
        "requester_id": dev.bdf,
        "op": op,
        "addr": addr,
        "len": len(data),
        "result": res.result.qemu_name(),
        "fault_addr": res.fault_addr,
        "fault": None if res.fault is None else res.fault.reason,
        "data": data.hex() if op == "read" else None,
    }
    line = f"dma {op} {name} ({dev.bdf}) {addr:#x}+{len(data):#x}: {res.result.qemu_name()}"
    if res.fault_addr is not None:
        line += f" at {res.fault_addr:#x}"
    mon.out(line)
    if not dev.bus_master_enabled and not res.ok:
        mon.out("  bus mastering is off (COMMAND.MASTER clear): the device's view is empty")
    if res.fault is not None:
        mon.out(
            f"  iommu: {res.fault.reason}" + (f" ({res.fault.event})" if res.fault.event else "")
        )
    if op == "read":
        mon.out(f"  data: {data.hex()}")
