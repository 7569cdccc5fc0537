"""Walkers shared by device models: guest-built rings and lists, each bounded by a step budget.

Every walker reads guest memory only through a DMA-capable :data:`Reader` (a device passes
``dma_reader(self.dma)``, so the IOMMU and bus faults apply) and counts its work on a
:data:`Tick` (``Engine.tick``, or :func:`step_budget` outside a machine), so a guest-built
ring without an end is a modelled hang, never a hung monitor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmamon.devices.lazy import lazy_exports

if TYPE_CHECKING:
    from dmamon.devices.common.budget import Tick, step_budget
    from dmamon.devices.common.prdt import (
        MAX_PRDTL,
        PRD_DBC_MASK,
        PRD_I,
        PRDT_ENTRY_SIZE,
        PRDT_OFFSET,
        PrdEntry,
        prdt_entries,
        prdt_segments,
    )
    from dmamon.devices.common.prp import (
        NVME_DATA_TRAS_ERROR,
        NVME_INVALID_FIELD,
        NVME_INVALID_PRP_OFFSET,
        PrpError,
        prp_segments,
    )
    from dmamon.devices.common.reader import (
        Reader,
        Segment,
        WalkFault,
        Writer,
        dma_reader,
        dma_writer,
        read_exact,
    )
    from dmamon.devices.common.ring import HeadTailRing, RegAccess, RingState
    from dmamon.devices.common.sgl import (
        NVME_DATA_SGL_LEN_INVALID,
        NVME_INVALID_SGL_SEG_DESCR,
        NVME_SGL_DESCR_TYPE_INVALID,
        SGL_BIT_BUCKET,
        SGL_DATA_BLOCK,
        SGL_LAST_SEGMENT,
        SGL_SEGMENT,
        SglDesc,
        SglError,
        SglPiece,
        sgl_segments,
    )
    from dmamon.devices.common.trb import (
        MAX_TD_TRBS,
        TRB_C,
        TRB_CH,
        TRB_IOC,
        TRB_LINK,
        TRB_LINK_LIMIT,
        TRB_SETUP,
        TRB_SIZE,
        TRB_STATUS,
        TRB_TC,
        Trb,
        TrbChain,
        TrbRing,
    )
    from dmamon.devices.common.virtq import (
        VIRTQ_DESC_SIZE,
        VRING_DESC_F_INDIRECT,
        VRING_DESC_F_NEXT,
        VRING_DESC_F_WRITE,
        DescChain,
        SplitVirtqueue,
        VirtqDesc,
        VirtqError,
    )

__all__ = [
    "MAX_PRDTL",
    "MAX_TD_TRBS",
    "NVME_DATA_SGL_LEN_INVALID",
    "NVME_DATA_TRAS_ERROR",
    "NVME_INVALID_FIELD",
    "NVME_INVALID_PRP_OFFSET",
    "NVME_INVALID_SGL_SEG_DESCR",
    "NVME_SGL_DESCR_TYPE_INVALID",
    "PRDT_ENTRY_SIZE",
    "PRDT_OFFSET",
    "PRD_DBC_MASK",
    "PRD_I",
    "SGL_BIT_BUCKET",
    "SGL_DATA_BLOCK",
    "SGL_LAST_SEGMENT",
    "SGL_SEGMENT",
    "TRB_C",
    "TRB_CH",
    "TRB_IOC",
    "TRB_LINK",
    "TRB_LINK_LIMIT",
    "TRB_SETUP",
    "TRB_SIZE",
    "TRB_STATUS",
    "TRB_TC",
    "VIRTQ_DESC_SIZE",
    "VRING_DESC_F_INDIRECT",
    "VRING_DESC_F_NEXT",
    "VRING_DESC_F_WRITE",
    "DescChain",
    "HeadTailRing",
    "PrdEntry",
    "PrpError",
    "Reader",
    "RegAccess",
    "RingState",
    "Segment",
    "SglDesc",
    "SglError",
    "SglPiece",
    "SplitVirtqueue",
    "Tick",
    "Trb",
    "TrbChain",
    "TrbRing",
    "VirtqDesc",
    "VirtqError",
    "WalkFault",
    "Writer",
    "dma_reader",
    "dma_writer",
    "prdt_entries",
    "prdt_segments",
    "prp_segments",
    "read_exact",
    "sgl_segments",
    "step_budget",
]


# Names load with their module on first use: a device that needs one walker does not pay
# for building every walker's dataclasses at start-up (PEP 562).
_LAZY = {
    "DescChain": "virtq",
    "HeadTailRing": "ring",
    "MAX_PRDTL": "prdt",
    "MAX_TD_TRBS": "trb",
    "NVME_DATA_SGL_LEN_INVALID": "sgl",
    "NVME_DATA_TRAS_ERROR": "prp",
    "NVME_INVALID_FIELD": "prp",
    "NVME_INVALID_PRP_OFFSET": "prp",
    "NVME_INVALID_SGL_SEG_DESCR": "sgl",
    "NVME_SGL_DESCR_TYPE_INVALID": "sgl",
    "PRDT_ENTRY_SIZE": "prdt",
    "PRDT_OFFSET": "prdt",
    "PRD_DBC_MASK": "prdt",
    "PRD_I": "prdt",
    "PrdEntry": "prdt",
    "PrpError": "prp",
    "Reader": "reader",
    "RegAccess": "ring",
    "RingState": "ring",
    "SGL_BIT_BUCKET": "sgl",
    "SGL_DATA_BLOCK": "sgl",
    "SGL_LAST_SEGMENT": "sgl",
    "SGL_SEGMENT": "sgl",
    "Segment": "reader",
    "SglDesc": "sgl",
    "SglError": "sgl",
    "SglPiece": "sgl",
    "SplitVirtqueue": "virtq",
    "TRB_C": "trb",
    "TRB_CH": "trb",
    "TRB_IOC": "trb",
    "TRB_LINK": "trb",
    "TRB_LINK_LIMIT": "trb",
    "TRB_SETUP": "trb",
    "TRB_SIZE": "trb",
    "TRB_STATUS": "trb",
    "TRB_TC": "trb",
    "Tick": "budget",
    "Trb": "trb",
    "TrbChain": "trb",
    "TrbRing": "trb",
    "VIRTQ_DESC_SIZE": "virtq",
    "VRING_DESC_F_INDIRECT": "virtq",
    "VRING_DESC_F_NEXT": "virtq",
    "VRING_DESC_F_WRITE": "virtq",
    "VirtqDesc": "virtq",
    "VirtqError": "virtq",
    "WalkFault": "reader",
    "Writer": "reader",
    "dma_reader": "reader",
    "dma_writer": "reader",
    "prdt_entries": "prdt",
    "prdt_segments": "prdt",
    "prp_segments": "prp",
    "read_exact": "reader",
    "sgl_segments": "sgl",
    "step_budget": "budget",
}


__getattr__ = lazy_exports(__name__, _LAZY)
