"""Trace events of edu (QEMU's edu has none; these are dmamon's).

Declared in the leaf module ``dmamon.devices.trace_events`` so the global declaration order
(``info trace-events``) stays what it was.
"""

from dmamon.devices.trace_events import edu_dma_done, edu_dma_start, edu_fact_done

__all__ = ["edu_dma_done", "edu_dma_start", "edu_fact_done"]
