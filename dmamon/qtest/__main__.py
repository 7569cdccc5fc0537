"""``python -m dmamon.qtest``: QEMU's qtest command line, served by ``dmamon qtest``."""

import sys

from dmamon.qtest import main

sys.exit(main())
