"""Root pytest configuration: the ``--update-golden`` switch of the golden-transcript runner."""

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/**/*.out from the current output (review the diff)",
    )
