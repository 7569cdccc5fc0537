"""The e1000e-lite register bank: the 82574L registers the lite model implements.

Fields marked ``unimp`` are stored but do nothing; a guest write that sets them is logged
under ``unimp``.
"""

from __future__ import annotations

from typing import Final

from dmamon.devices.regs import RC, RO, W1C, W1S, WO, Field, Reg, RegisterBank

__all__ = ["ALIASES", "MMIO_SIZE", "E1000eLiteRegs"]

MMIO_SIZE: Final = 128 * 1024

# Register bits (e1000_regs.h / e1000x_regs.h) that are not fields below: bits the device
# sets itself (CTRL.RST, TARC0 enable, RAH.AV, ICR causes) and what driver.py composes. The
# model reads RCTL, TCTL, STATUS and RAH0 by field name.
CTRL_RST = 1 << 26
RCTL_EN = 1 << 1
RCTL_LBM_MAC = 0x40  # LBM bits 7:6 = 01: MAC loopback (e1000e_tx_pkt_send tests this bit)
TCTL_EN = 1 << 1
TARC_ENABLE = 1 << 10
RAH_AV = 1 << 31


ICR_TXDW = 0x01
ICR_TXQE = 0x02
ICR_RXO = 0x40
ICR_RXT0 = 0x80
ICR_ASSERTED = 0x8000_0000


# QEMU's e1000e accepts the 82542 register offsets for the ring registers (mac_reg_access).
ALIASES = {
    0x110: 0x2800,
    0x114: 0x2804,
    0x118: 0x2808,
    0x120: 0x2810,
    0x128: 0x2818,
    0x420: 0x3800,
    0x424: 0x3804,
    0x428: 0x3808,
    0x430: 0x3810,
    0x438: 0x3818,
}


class E1000eLiteRegs(RegisterBank, size=MMIO_SIZE, valid_sizes=(1, 2, 4, 8)):
    """The e1000e registers the lite model implements, at the 82574L offsets."""

    ctrl = Reg(0x0000, reset=0x00140241, doc="CTRL: FD bit 0, SLU 6, SPEED 9:8, RST 26 (SC)")
    status = Reg(
        0x0008,
        access=RO,
        fields=(
            Field("fd", bit=0, doc="full duplex"),
            Field("lu", bit=1, doc="link up"),
            Field("speed", bit=6, width=2, doc="10: 1000 Mb/s"),
            Field("asdv", bit=8, width=2, doc="auto speed detection value"),
            Field("gio_master_enable", bit=19, doc="GIO master enable status"),
        ),
        reset=0x00080283,
        doc="STATUS",
    )
    icr = Reg(
        0x00C0,
        access=W1C,
        doc="ICR: TXDW 0, TXQE 1, LSC 2, RXDMT0 4, RXO 6, RXT0 7, ASSERTED 31; "
        "write 1 to clear, read clears while IMS is 0",
    )
    ics = Reg(0x00C8, doc="ICS: write sets ICR bits; reads mirror ICR")
    ims = Reg(0x00D0, access=W1S, doc="IMS: write 1 to enable a cause")
    imc = Reg(0x00D8, access=WO, doc="IMC: write 1 to disable a cause")
    rctl = Reg(
        0x0100,
        fields=(
            Field("rst", bit=0, doc="reserved (RST)"),
            Field("en", bit=1, doc="receiver enable"),
            Field("sbp", bit=2, doc="store bad packets"),
            Field("upe", bit=3, doc="unicast promiscuous"),
            Field("mpe", bit=4, doc="multicast promiscuous"),
            Field("lpe", bit=5, doc="long packet enable"),
            Field("lbm", bit=6, width=2, doc="loopback mode: 01 = MAC loopback"),
            Field("rdmts", bit=8, width=2, doc="RX descriptor minimum threshold"),
            Field("dtyp", bit=10, width=2, doc="descriptor type (lite: legacy only)", unimp=True),
            Field("mo", bit=12, width=2, doc="multicast offset"),
            Field("bam", bit=15, doc="broadcast accept"),
            Field("bsize", bit=16, width=2, doc="buffer size: 00 2048, 01 1024, 10 512, 11 256"),
            Field("vfe", bit=18, doc="VLAN filter enable", unimp=True),
            Field("cfien", bit=19),
            Field("cfi", bit=20),
            Field("dpf", bit=22, doc="discard pause frames"),
            Field("pmcf", bit=23),
            Field("bsex", bit=25, doc="buffer size extension (x16)"),
            Field("secrc", bit=26, doc="strip Ethernet CRC"),
            Field("flxbuf", bit=27, width=4, doc="flexible buffer size", unimp=True),
        ),
        doc="RCTL",
    )
    tctl = Reg(
        0x0400,
        fields=(
            Field("rst", bit=0, doc="reserved (RST)"),
            Field("en", bit=1, doc="transmit enable"),
            Field("psp", bit=3, doc="pad short packets"),
            Field("ct", bit=4, width=8, doc="collision threshold"),
            Field("cold", bit=12, width=10, doc="collision distance"),
            Field("swxoff", bit=22),
            Field("rtlc", bit=24),
            Field("nrtu", bit=25),
            Field("mulr", bit=28),
        ),
        doc="TCTL",
    )
    rdbal = Reg(0x2800, fields=(Field("addr", bit=4, width=28),), doc="RDBAL (16-byte aligned)")
    rdbah = Reg(0x2804, doc="RDBAH")
    rdlen = Reg(0x2808, fields=(Field("len", bit=7, width=13),), doc="RDLEN (bytes, x128)")
    rdh = Reg(0x2810, fields=(Field("head", bit=0, width=16),), doc="RDH")
    rdt = Reg(0x2818, fields=(Field("tail", bit=0, width=16),), doc="RDT")
    rxdctl = Reg(0x2828, reset=0x00010000, doc="RXDCTL (stored only)")
    tdbal = Reg(0x3800, fields=(Field("addr", bit=4, width=28),), doc="TDBAL (16-byte aligned)")
    tdbah = Reg(0x3804, doc="TDBAH")
    tdlen = Reg(0x3808, fields=(Field("len", bit=7, width=13),), doc="TDLEN (bytes, x128)")
    tdh = Reg(0x3810, fields=(Field("head", bit=0, width=16),), doc="TDH")
    tdt = Reg(0x3818, fields=(Field("tail", bit=0, width=16),), doc="TDT: the TX doorbell")
    txdctl = Reg(0x3828, doc="TXDCTL (stored only)")
    tarc0 = Reg(0x3840, reset=0x403, doc="TARC0: bit 10 enables queue 0 (QEMU's model)")
    mpc = Reg(0x4010, access=RC, doc="missed packets count")
    gprc = Reg(0x4074, access=RC, doc="good packets received count")
    gptc = Reg(0x4080, access=RC, doc="good packets transmitted count")
    ruc = Reg(0x40A4, access=RC, doc="receive undersize count")
    roc = Reg(0x40AC, access=RC, doc="receive oversize count")
    tpr = Reg(0x40D0, access=RC, doc="total packets received")
    tpt = Reg(0x40D4, access=RC, doc="total packets transmitted")
    ral0 = Reg(0x5400, reset=0x12005452, doc="RAL0: receive address low (52:54:00:12)")
    rah0 = Reg(
        0x5404,
        fields=(
            Field("addr", bit=0, width=16, doc="receive address high (34:56)"),
            Field("asel", bit=16, width=2, doc="address select"),
            Field("av", bit=31, doc="address valid"),
        ),
        reset=0x80005634,
        doc="RAH0",
    )
