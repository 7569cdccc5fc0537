"""What the qtest modules share: limits, usage lines and the internal refusal exceptions."""

from __future__ import annotations

__all__ = ["IOAPIC_PATH", "MAX_MEMSET", "MAX_TRANSFER", "PORT_MAX", "QTEST_COMMANDS"]

_U64 = (1 << 64) - 1
PORT_MAX = 0xFFFF
MAX_TRANSFER = 1 << 24  # bytes one read/b64read/write/b64write may move (QEMU: unbounded)
MAX_MEMSET = 1 << 28  # memset writes in chunks, so it may cover more
_MEMSET_CHUNK = 1 << 20
IOAPIC_PINS = 24  # IOAPIC_NUM_PINS (hw/intc/ioapic_internal.h)
# q35 parents the IOAPIC to its host bridge: ioapic_init_gsi(gsi_state, "q35") in pc_q35.c.
IOAPIC_PATH = "/machine/q35/ioapic"

# Usage lines; the words after the name name the arguments in ERR replies.
QTEST_COMMANDS: dict[str, str] = {
    "outb": "outb PORT VALUE",
    "outw": "outw PORT VALUE",
    "outl": "outl PORT VALUE",
    "inb": "inb PORT",
    "inw": "inw PORT",
    "inl": "inl PORT",
    "writeb": "writeb ADDR VALUE",
    "writew": "writew ADDR VALUE",
    "writel": "writel ADDR VALUE",
    "writeq": "writeq ADDR VALUE",
    "readb": "readb ADDR",
    "readw": "readw ADDR",
    "readl": "readl ADDR",
    "readq": "readq ADDR",
    "read": "read ADDR SIZE",
    "write": "write ADDR SIZE 0xDATA",
    "b64read": "b64read ADDR SIZE",
    "b64write": "b64write ADDR SIZE BASE64",
    "memset": "memset ADDR SIZE BYTE",
    "endianness": "endianness",
    "clock_step": "clock_step [NS]",
    "clock_set": "clock_set NS",
    "irq_intercept_in": "irq_intercept_in QOM-PATH",
    "irq_intercept_out": "irq_intercept_out QOM-PATH",
    "set_irq_in": "set_irq_in QOM-PATH NAME NUM LEVEL",
    "module_load": "module_load PREFIX NAME",
}
_ARGS = {
    name: [a for a in usage.split()[1:] if not a.startswith("[")]
    for name, usage in QTEST_COMMANDS.items()
}
_ARG_NAMES = {
    name: [a.strip("[]") for a in usage.split()[1:]] for name, usage in QTEST_COMMANDS.items()
}


class _BadInput(Exception):
    """A request dmamon refuses; carries its one-line reply. Never leaves this module."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class _BadNumber(Exception):
    """A word that is not a number of the wanted kind (formatted by the caller)."""

    def __init__(self, word: str, problem: str) -> None:
        super().__init__(word)
        self.word = word
        self.problem = problem
