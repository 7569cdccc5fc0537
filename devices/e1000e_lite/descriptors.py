"""Legacy 16-byte e1000 descriptors (``struct e1000_tx_desc``/``e1000_rx_desc``) and the frame
limits the lite model applies."""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["DESC_LEN", "RxDesc", "TxDesc"]

DESC_LEN: Final = 16  # E1000_RING_DESC_LEN: legacy TX and RX descriptors
ETH_HLEN: Final = 14
MIN_FRAME: Final = 60  # e1000e_receive_iov pads shorter frames (min_buf_size)
MAX_VLAN_FRAME: Final = 1522  # e1000x_is_oversized without RCTL.LPE
MAX_TX_FRAGS: Final = 64  # E1000E_MAX_TX_FRAGS
MAX_TX_FRAME: Final = 0x10000  # net_tx_pkt refuses anything larger
FCS_LEN: Final = 4
U64: Final = (1 << 64) - 1

TXD_CMD_EOP: Final = 0x01
TXD_CMD_RS: Final = 0x08
TXD_CMD_DEXT: Final = 0x20
TXD_DTYP_D: Final = 0x00100000  # in the descriptor's lower dword
TXD_STAT_DD: Final = 0x01
RXD_STAT_DD: Final = 0x01
RXD_STAT_EOP: Final = 0x02

RING_DESC: Final = struct.Struct("<QII")  # buffer_addr, lower dword, upper dword
RX_DESC: Final = struct.Struct("<QHHBBH")  # buffer_addr, length, csum, status, errors, special


class TxDesc:
    """A legacy transmit descriptor (``struct e1000_tx_desc``), for tests and labs."""

    @staticmethod
    def pack(buffer_addr: int, length: int, cmd: int, status: int = 0) -> bytes:
        """Build a descriptor.

        Args:
            buffer_addr: bus address of the data.
            length: bytes of data in this descriptor (16 bits).
            cmd: EOP 0x01, IFCS 0x02, RS 0x08, DEXT 0x20 ...
            status: DD 0x01 once written back.

        Returns:
            The 16 bytes of the descriptor, in memory order.
        """
        lower = (length & 0xFFFF) | ((cmd & 0xFF) << 24)
        return RING_DESC.pack(buffer_addr & U64, lower, status & 0xFF)


class RxDesc:
    """A legacy receive descriptor (``struct e1000_rx_desc``), for tests and labs."""

    @staticmethod
    def pack(buffer_addr: int) -> bytes:
        """Build a descriptor the guest hands to the NIC.

        Args:
            buffer_addr: bus address of the receive buffer (0: a null descriptor).

        Returns:
            The 16 bytes of the descriptor, in memory order.
        """
        return RX_DESC.pack(buffer_addr & U64, 0, 0, 0, 0, 0)

    @staticmethod
    def unpack(data: bytes) -> tuple[int, int, int, int]:
        """Decode a descriptor the NIC wrote back.

        Args:
            data: at least 16 bytes, in memory order.

        Returns:
            ``(buffer_addr, length, status, errors)``; status DD 0x01, EOP 0x02.
        """
        addr, length, _, status, errors, _ = RX_DESC.unpack(data[:DESC_LEN])
        return addr, length, status, errors
