"""The interactive shell in a real terminal (pexpect): Ctrl-D and ``exit`` leave it, the
banner says how to leave."""

from __future__ import annotations

import os
import sys

import pytest

pexpect = pytest.importorskip("pexpect")

PROMPT = r"\(dmamon\)"


def spawn() -> object:
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", COLUMNS="100")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "dmamon"],
        encoding="utf-8",
        timeout=20,
        dimensions=(24, 100),
        env=env,
    )
    child.expect(PROMPT)
    return child


def test_banner_says_how_to_leave() -> None:
    child = spawn()
    assert "'quit'" in child.before
    child.sendline("quit")
    child.expect(pexpect.EOF)


def test_ctrl_d_on_an_empty_line_leaves() -> None:
    child = spawn()
    child.sendline("info status")
    child.expect("VM status: running")
    child.expect(PROMPT)
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Error" not in child.before and "error" not in child.before


def test_exit_leaves() -> None:
    child = spawn()
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "unknown command" not in child.before
