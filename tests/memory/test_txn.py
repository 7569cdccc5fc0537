"""MemTxResult and MemTxAttrs (memory/txn.py)."""

from __future__ import annotations

from dmamon.memory import UNSPECIFIED, MemTxAttrs, MemTxResult, format_bdf


def test_ok_is_zero_and_falsy() -> None:
    assert MemTxResult.OK == 0
    assert not MemTxResult.OK
    assert MemTxResult.OK.ok


def test_results_of_split_accesses_or_together() -> None:
    r = MemTxResult.OK | MemTxResult.DECODE_ERROR | MemTxResult.ACCESS_ERROR
    assert r & MemTxResult.DECODE_ERROR
    assert r & MemTxResult.ACCESS_ERROR
    assert not r & MemTxResult.ERROR
    assert not r.ok


def test_flag_values_match_qemu_memattrs_h() -> None:
    assert (MemTxResult.ERROR, MemTxResult.DECODE_ERROR, MemTxResult.ACCESS_ERROR) == (1, 2, 4)


def test_describe_names_every_bit_in_plain_words() -> None:
    assert MemTxResult.OK.describe() == "ok"
    r = MemTxResult.ERROR | MemTxResult.DECODE_ERROR | MemTxResult.ACCESS_ERROR
    assert r.describe() == "device error, decode error, access error"


def test_qemu_name_uses_the_macro_spelling() -> None:
    assert MemTxResult.OK.qemu_name() == "MEMTX_OK"
    assert MemTxResult.DECODE_ERROR.qemu_name() == "MEMTX_DECODE_ERROR"
    both = MemTxResult.ERROR | MemTxResult.ACCESS_ERROR
    assert both.qemu_name() == "MEMTX_ERROR|MEMTX_ACCESS_ERROR"


def test_format_bdf_splits_bus_device_and_function() -> None:
    assert format_bdf(0x0008) == "00:01.0"
    assert format_bdf(0x01FA) == "01:1f.2"


def test_attrs_without_requester_print_a_dash() -> None:
    assert UNSPECIFIED.bdf == "-"
    assert MemTxAttrs() == UNSPECIFIED
    assert MemTxAttrs(requester_id=0x18, debug=True).bdf == "00:03.0"
