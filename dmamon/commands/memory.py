"""Memory commands: QEMU HMP's ``xp``/``x``/``print``/``i``/``o``/``pmemsave``/``sum``,
and DMA as a device makes it (``dma read|write``), which HMP lacks."""

from __future__ import annotations

from pathlib import Path

from dmamon import ops
from dmamon.devices import PciDevice
from dmamon.dumpfmt import split_format
from dmamon.hmpexpr import require_int32
from dmamon.memory import MemTxResult
from dmamon.monitor import Monitor, MonitorError, command, os_reason, split_words
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


def _dump(mon: Monitor, name: str, args: str) -> None:
    spec, rest = split_format(args)
    fmt = mon.fmt_state.parse(spec, dump_command=name)
    if fmt.nbytes > MAX_DUMP:
        raise MonitorError(f"{name}: {fmt.nbytes} bytes is more than {MAX_DUMP} a dump may show")
    if not rest:
        raise MonitorError("unexpected end of expression")
    try:
        addr = mon.expr(rest)
    except MonitorError as e:
        if str(e) == "extraneous characters at the end of line":
            raise MonitorError(f"{name}: extraneous characters at the end of line") from None
        raise
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


@command("xp", "/fmt addr", "physical memory dump starting at 'addr'", AREA, complete=("symbol",))
def xp(mon: Monitor, args: str) -> None:
    _dump(mon, "xp", args)


@command(
    "x",
    "/fmt addr",
    "virtual memory dump starting at 'addr'",
    AREA,
    details="dmamon's machine has no CPU and no paging: virtual equals physical.",
    complete=("symbol",),
)
def x(mon: Monitor, args: str) -> None:
    _dump(mon, "x", args)


@command(
    "print",
    "/fmt expr",
    "print expression value (use $reg for CPU register access)",
    AREA,
    aliases=("p",),
    complete=("symbol",),
)
def print_(mon: Monitor, args: str) -> None:
    spec, rest = split_format(args)
    fmt = mon.fmt_state.parse(spec)
    if not rest:
        raise MonitorError("unexpected end of expression")
    try:
        value = mon.expr(rest)
    except MonitorError as e:
        if str(e) == "extraneous characters at the end of line":
            raise MonitorError("print|p: extraneous characters at the end of line") from None
        raise
    mon.value = value
    mon.data = {"value": value}
    mon.out(print_value(value, fmt))


_PORT_SIZES = {1: 1, 2: 2, 4: 4, 8: 1}


@command("i", "/fmt addr", "I/O port read", AREA)
def port_in(mon: Monitor, args: str) -> None:
    spec, rest = split_format(args)
    fmt = mon.fmt_state.parse(spec)
    (port,), tail = mon.exprs(rest, 1, "i")
    if tail:
        raise MonitorError("i: extraneous characters at the end of line")
    require_int32(port, "i")
    size = _PORT_SIZES.get(fmt.size, 1)
    _, value = mon.machine.io_as.load(port & 0xFFFF, size)
    mon.value = value
    mon.data = {"port": port, "size": size, "value": value}
    mon.out(port_value(fmt.size, port, value))


@command("o", "/fmt addr value", "I/O port write", AREA)
def port_out(mon: Monitor, args: str) -> None:
    spec, rest = split_format(args)
    fmt = mon.fmt_state.parse(spec)
    if fmt.size == 8:
        raise MonitorError("invalid char in format: 'g'")
    (port, value), tail = mon.exprs(rest, 2, "o")
    if tail:
        raise MonitorError("o: extraneous characters at the end of line")
    require_int32(port, "o")
    require_int32(value, "o")
    mon.machine.io_as.store(port & 0xFFFF, fmt.size, value)


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


@command("sum", "addr size", "compute the checksum of a memory region", AREA)
def sum_(mon: Monitor, args: str) -> None:
    (addr, size), tail = mon.exprs(args, 2, "sum")
    if tail:
        raise MonitorError("sum: extraneous characters at the end of line")
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
    complete=("subcommand:read,write", "device", "symbol"),
)
def dma(mon: Monitor, args: str) -> None:
    words = split_words(args)
    if len(words) != 4 or words[0] not in ("read", "write"):
        raise MonitorError("usage: dma read DEV ADDR LEN | dma write DEV ADDR 0xHEXDATA")
    op, name = words[0], words[1]
    dev = _dma_device(mon, name)
    addr = mon.expr(words[2])
    port = dev.dma
    assert port is not None
    if op == "read":
        length = mon.expr(words[3])
        if length == 0 or length > MAX_DUMP:
            raise MonitorError(f"dma: length must be 1..{MAX_DUMP}")
        res = port.read(addr, length)
        data = res.data
    else:
        text = words[3]
        if not text.startswith("0x") or len(text) % 2 or len(text) < 4:
            raise MonitorError("dma: data must be 0x followed by an even number of hex digits")
        try:
            data = bytes.fromhex(text[2:])
        except ValueError:
            raise MonitorError(f"dma: bad hex data {text!r}") from None
        res = port.write(addr, data)
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
