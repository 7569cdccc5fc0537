"""dmamon: a QEMU-style monitor over an in-process simulated machine.

Only the version lives here, so ``dmamon --help`` imports nothing heavy.
"""

__version__ = "0.1.0"
