"""The AMD IOMMU front-end plug-in: the ``iommu`` command and ``info iommu|iotlb|dma``.

Importing it registers the commands (:mod:`.commands`, :mod:`.info`) and the ``requester``
argument kind (:mod:`.common`). Views are pure renderers (:mod:`.views`, :mod:`.lists`).
"""

from dmamon.plugins.amdvi import commands, info  # noqa: F401  (registers the commands)

AREAS = ("IOMMU",)
"""The command areas this plug-in adds (``help`` groups, the shell's command sets)."""

__all__ = ["AREAS"]
