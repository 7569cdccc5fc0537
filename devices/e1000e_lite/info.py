"""What e1000e-lite tells the monitor, as typed frozen records (``info device nic0``).

:meth:`E1000eLite.info` returns an :class:`E1000eLiteInfo`; ``dataclasses.asdict`` turns
it into JSON-ready data and the monitor's record renderer into text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["E1000eLiteInfo", "InterruptView", "RingView", "StatsView"]

_HEX = {"fmt": "hex"}


@dataclass(frozen=True, slots=True)
class RingView:
    """One descriptor ring as its registers describe it.

    Attributes:
        base: Bus address of descriptor 0 (BAH:BAL).
        length: Ring length in bytes (LEN).
        descriptors: Descriptors the ring holds (length / 16).
        head: Next descriptor the device consumes.
        tail: One past the last descriptor the guest handed over.
        pending: Descriptors handed over and not yet consumed.
        enabled: TCTL.EN (TX) or RCTL.EN (RX).
    """

    base: int = field(metadata=_HEX)
    length: int
    descriptors: int
    head: int
    tail: int
    pending: int
    enabled: bool


@dataclass(frozen=True, slots=True)
class InterruptView:
    """Interrupt state.

    Attributes:
        icr: Pending causes (ICR).
        ims: Enabled causes (IMS).
        intx: The INTx line level.
        msi: MSI is enabled (one message per newly pending cause).
    """

    icr: int = field(metadata=_HEX)
    ims: int = field(metadata=_HEX)
    intx: int
    msi: bool


@dataclass(frozen=True, slots=True)
class StatsView:
    """Statistics registers (read-to-clear in the guest; read here without clearing).

    Attributes:
        gptc: Good packets transmitted.
        tpt: Total packets transmitted.
        gprc: Good packets received.
        tpr: Total packets received.
        mpc: Missed packets (no receive buffers).
        ruc: Undersized frames received (padded).
        roc: Oversized frames dropped.
    """

    gptc: int
    tpt: int
    gprc: int
    tpr: int
    mpc: int
    ruc: int
    roc: int


@dataclass(frozen=True, slots=True)
class E1000eLiteInfo:
    """The whole device.

    Attributes:
        mac: The MAC address (``52:54:00:12:34:56``).
        loopback: RCTL.LBM = MAC: transmitted frames come back into the receive path.
        tx: The transmit ring.
        rx: The receive ring.
        interrupts: ICR/IMS, INTx and MSI.
        stats: Packet counters.
        tx_frags: Fragments of a frame being assembled (no EOP seen yet).
        rx_pkt_vec: The receive packet vector on the sim heap, or None before a receive.
        wire_frames: Frames sent out without loopback (the last 16 are kept).
    """

    mac: str
    loopback: bool
    tx: RingView
    rx: RingView
    interrupts: InterruptView
    stats: StatsView
    tx_frags: int
    rx_pkt_vec: str | None
    wire_frames: int
