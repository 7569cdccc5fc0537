"""``python -m dmamon``."""

from dmamon.cli import main

main()
