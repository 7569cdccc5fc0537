"""Raw access in QEMU's qtest spelling: ``readl ADDR``, ``writel ADDR VALUE``, ``read``,
``write``, ``memset``, ``outb``/``inb``..., ``clock_step``, ``clock_set``.

One implementation with the qtest server and ``.qtest`` scripts (:func:`dmamon.qtest.execute`);
the monitor adds HMP expressions and symbols for the numbers (``writel edu0.fact 5``) and
prints the reply's value (``0x00000000010000ed``) instead of the wire's ``OK`` line.
"""

from __future__ import annotations

from dmamon.argspec import Param, arg
from dmamon.monitor import Monitor, MonitorError, command
from dmamon.qtest import QTEST_COMMANDS, execute

AREA = "Raw access"
# Arguments that are data, not numbers: passed to qtest as typed.
_RAW_ARGS = {
    "write": {2},
    "b64write": {2},
    "irq_intercept_in": {0},
    "irq_intercept_out": {0},
    "set_irq_in": {0, 1},
    "module_load": {0, 1},
}
_SUMMARIES = {
    "read": "read SIZE bytes at ADDR (bytes in memory order)",
    "write": "write SIZE bytes at ADDR (0xDATA in memory order)",
    "b64read": "read SIZE bytes at ADDR as base64",
    "b64write": "write SIZE bytes at ADDR from base64",
    "memset": "fill SIZE bytes at ADDR with BYTE",
    "endianness": "the target's byte order",
    "clock_step": "advance virtual time by NS (no argument: to the next timer)",
    "clock_set": "advance virtual time to NS",
    "irq_intercept_in": "report IRQ lines of a device as IRQ raise/lower lines",
    "irq_intercept_out": "report outgoing IRQ lines of a device",
    "set_irq_in": "drive an IRQ input of a device",
    "module_load": "load a QEMU module (dmamon has none)",
}


def _summary(name: str) -> str:
    if name in _SUMMARIES:
        return _SUMMARIES[name]
    width = {"b": 8, "w": 16, "l": 32, "q": 64}[name[-1]]
    kind = {
        "out": "I/O port write",
        "in": "I/O port read",
        "read": "memory read",
        "write": "memory write",
    }[name[:-1]]
    return f"{width}-bit {kind} (qtest spelling)"


def _params(name: str) -> tuple[Param, ...]:
    """One optional word per qtest argument: qtest itself reports a missing one
    (``readl: missing ADDR (usage: readl ADDR)``), the monitor one too many."""
    raw = _RAW_ARGS.get(name, set())
    words = QTEST_COMMANDS[name].replace("[", "").replace("]", "").split()[1:]
    return tuple(
        arg(
            f"a{i}",
            optional=True,
            metavar=w,
            complete="" if i in raw else "symbol",
        )
        for i, w in enumerate(words)
    )


def _make(name: str) -> None:
    # The qtest handler table is these commands' argument spec: qtest reports a missing
    # argument itself (``readl: missing ADDR``), the monitor one too many (QEMU's HMP
    # wording). Words go to it as typed, so the hot path of batch scripts parses once.
    usage = QTEST_COMMANDS[name]
    raw = _RAW_ARGS.get(name, set())
    params = _params(name)
    most = len(params)

    def run(mon: Monitor, text: str) -> None:
        words = text.split()
        if len(words) > most:
            raise MonitorError(f"{name}: extraneous characters at the end of line")
        out = [name]
        for i, w in enumerate(words):
            # numbers may be HMP expressions and symbols; plain numbers pass unchanged
            if i in raw or w.lstrip("-").isdigit() or w.startswith("0x") and _hex(w):
                out.append(w)
            else:
                out.append(f"{mon.expr(w):#x}")
        before = mon.machine.now_ns
        reply = execute(mon.machine, out)
        for line in reply.lines:
            if line is reply.lines[-1] and line == reply.reply:
                break
            mon.out(line)
        if not reply.ok:
            raise MonitorError(_error_text(name, reply.reply))
        value = reply.value
        if isinstance(value, bytes):
            value = "0x" + value.hex()
        mon.value = value
        mon.data = {"reply": reply.reply, "value": value}
        if reply.reply != "OK":
            mon.out(reply.reply[3:])
        _explain_clock(mon, name, out, before)

    summary = " ".join(usage.split()[1:]).lower()
    kinds = tuple(p.complete for p in params)
    command(name, summary, _summary(name), AREA, complete=kinds)(run)


def _error_text(name: str, reply: str) -> str:
    """The qtest ERR/FAIL reply as a monitor error: one ``name:`` prefix, not two."""
    for tag in ("ERR ", "FAIL "):
        if reply.startswith(tag):
            reply = reply[len(tag) :]
    return reply if reply.startswith(f"{name}:") else f"{name}: {reply}"


def _explain_clock(mon: Monitor, name: str, words: list[str], before: int) -> None:
    """Say why virtual time did not move where the user asked (qtest itself stays silent)."""
    if name not in ("clock_step", "clock_set"):
        return
    m = mon.machine
    if m.halted:
        mon.out(f"{name}: the machine is {m.run_state}: time does not move until system_reset")
    elif name == "clock_set" and len(words) > 1 and _number(words[1]) < before:
        # QEMU's qtest_clock_warp only moves forward; its reply is the unchanged time.
        mon.out(
            f"clock_set: {_number(words[1])} ns is in the past (virtual time is {before} ns); "
            "time never goes back"
        )


def _number(word: str) -> int:
    try:
        return int(word, 0)
    except ValueError:
        return int(word, 10)


def _hex(w: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in w[2:]) and len(w) > 2


for _name in QTEST_COMMANDS:
    if _name not in ("module_load",):
        _make(_name)
