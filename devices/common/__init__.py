"""Walkers shared by device models: guest-built rings and lists, each bounded by a step budget.

Every walker reads guest memory only through a DMA-capable :data:`Reader` (a device passes
``dma_reader(self.dma)``, so the IOMMU and bus faults apply) and counts its work on a
:data:`Tick` (``Engine.tick``, or :func:`step_budget` outside a machine), so a guest-built
ring without an end is a modelled hang, never a hung monitor.
"""

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
    "NVME_DATA_TRAS_ERROR",
    "NVME_INVALID_FIELD",
    "NVME_INVALID_PRP_OFFSET",
    "PRDT_ENTRY_SIZE",
    "PRDT_OFFSET",
    "PRD_DBC_MASK",
    "PRD_I",
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
    "step_budget",
]
