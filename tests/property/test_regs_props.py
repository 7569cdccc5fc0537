"""Property tests of the register access algebra (devices/regs.py)."""

from __future__ import annotations

from dmamon.devices.regs import (
    Access,
    Field,
    Reg,
    RegisterBank,
    before_write,
    on_read,
    on_write,
)
from hypothesis import given, settings
from hypothesis import strategies as st

settings.register_profile("regs", deadline=None, max_examples=150)
PROFILE = settings.get_profile("regs")

WIDTHS = (8, 16, 32, 64)
SLOT = 8  # every register gets an 8-byte slot, so narrow ones are followed by a hole


def _name(mode: Access, width: int) -> str:
    return f"{mode.name.lower()}_{width}"


def _offset(mode: Access, width: int) -> int:
    return (list(Access).index(mode) * len(WIDTHS) + WIDTHS.index(width)) * SLOT


# One register per (mode, width), built with type() so class keywords reach __init_subclass__.
AllModes: type[RegisterBank] = type(
    "AllModes",
    (RegisterBank,),
    {_name(m, w): Reg(_offset(m, w), width=w, access=m) for m in Access for w in WIDTHS},
    size=len(Access) * len(WIDTHS) * SLOT,
)


class Mixed(RegisterBank, size=0x20):
    """Registers mixing every mode, for comparing the fast and the general access paths."""

    a = Reg(
        0x00,
        width=64,
        fields=(
            Field("ro", bit=0, width=8, access=Access.RO),
            Field("wo", bit=8, width=8, access=Access.WO),
            Field("rw", bit=16, width=16),
            Field("w1c", bit=32, width=8, access=Access.W1C),
            Field("w1s", bit=40, width=8, access=Access.W1S),
            Field("rc", bit=48, width=8, access=Access.RC),
        ),
    )
    b = Reg(0x08)
    c = Reg(0x0C, access=Access.RO)
    d = Reg(0x10, width=64)


class PassThrough:
    """An owner whose hooks change nothing, so every access takes the general path."""

    def __init__(self) -> None:
        self.regs = Mixed(owner=self)

    @on_read("a")
    @on_read("b")
    @on_read("c")
    @on_read("d")
    def _read(self, value: int) -> int:
        return value

    @before_write("a")
    @before_write("b")
    @before_write("c")
    @before_write("d")
    def _before(self, old: int, new: int) -> int:
        return new

    @on_write("a")
    @on_write("b")
    @on_write("c")
    @on_write("d")
    def _after(self, old: int, new: int) -> None:
        pass


widths = st.sampled_from(WIDTHS)


@st.composite
def reg_values(draw: st.DrawFn) -> tuple[int, int, int]:
    width = draw(widths)
    top = (1 << width) - 1
    return width, draw(st.integers(0, top)), draw(st.integers(0, top))


def _write_whole(mode: Access, width: int, old: int, w: int) -> RegisterBank:
    bank = AllModes()
    bank.poke(_name(mode, width), old)
    bank.write(_offset(mode, width), w, width // 8)
    return bank


@PROFILE
@given(reg_values())
def test_w1c_write_leaves_old_and_not_written(args: tuple[int, int, int]) -> None:
    width, old, w = args
    bank = _write_whole(Access.W1C, width, old, w)
    assert bank.peek(_name(Access.W1C, width)) == old & ~w


@PROFILE
@given(reg_values())
def test_w1s_write_leaves_old_or_written(args: tuple[int, int, int]) -> None:
    width, old, w = args
    bank = _write_whole(Access.W1S, width, old, w)
    assert bank.peek(_name(Access.W1S, width)) == old | w


@PROFILE
@given(reg_values())
def test_ro_write_leaves_the_value_unchanged(args: tuple[int, int, int]) -> None:
    width, old, w = args
    bank = _write_whole(Access.RO, width, old, w)
    assert bank.read(_offset(Access.RO, width), width // 8) == old


@PROFILE
@given(reg_values())
def test_rw_write_reads_back_the_written_value(args: tuple[int, int, int]) -> None:
    width, old, w = args
    bank = _write_whole(Access.RW, width, old, w)
    assert bank.read(_offset(Access.RW, width), width // 8) == w


@PROFILE
@given(reg_values())
def test_wo_write_is_stored_but_reads_zero(args: tuple[int, int, int]) -> None:
    width, old, w = args
    bank = _write_whole(Access.WO, width, old, w)
    assert bank.peek(_name(Access.WO, width)) == w
    assert bank.read(_offset(Access.WO, width), width // 8) == 0


@PROFILE
@given(reg_values())
def test_rc_read_returns_the_value_then_clears_and_writes_are_ignored(
    args: tuple[int, int, int],
) -> None:
    width, old, w = args
    bank = _write_whole(Access.RC, width, old, w)
    offset = _offset(Access.RC, width)
    assert bank.read(offset, width // 8) == old
    assert bank.read(offset, width // 8) == 0


@PROFILE
@given(reg_values())
def test_reserved_register_always_reads_zero(args: tuple[int, int, int]) -> None:
    width, old, w = args
    bank = _write_whole(Access.RSVD, width, old, w)
    assert bank.read(_offset(Access.RSVD, width), width // 8) == 0
    assert bank.peek(_name(Access.RSVD, width)) == 0


@st.composite
def chunked_writes(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int]]]:
    """A register width, a value, and a cover of its bytes by aligned chunks in any order."""
    width = draw(widths)
    value = draw(st.integers(0, (1 << width) - 1))
    chunks: list[tuple[int, int]] = []
    pos = 0
    while pos < width // 8:
        sizes = [n for n in (1, 2, 4, 8) if pos % n == 0 and pos + n <= width // 8]
        n = draw(st.sampled_from(sizes))
        chunks.append((pos, n))
        pos += n
    return width, value, draw(st.permutations(chunks))


@PROFILE
@given(chunked_writes(), st.sampled_from([Access.RW, Access.W1C, Access.W1S, Access.WO]))
def test_chunked_writes_compose_to_one_wide_write(
    args: tuple[int, int, list[tuple[int, int]]], mode: Access
) -> None:
    width, value, chunks = args
    name, offset = _name(mode, width), _offset(mode, width)
    wide, pieces = AllModes(), AllModes()
    wide.poke(name, 0x5A5A_5A5A_5A5A_5A5A & ((1 << width) - 1))
    pieces.poke(name, wide.peek(name))
    wide.write(offset, value, width // 8)
    for start, n in chunks:
        pieces.write(offset + start, value >> (8 * start), n)
    assert pieces.peek(name) == wide.peek(name)


@PROFILE
@given(chunked_writes(), st.sampled_from([Access.RW, Access.RO, Access.WO, Access.W1C]))
def test_chunked_reads_reassemble_one_wide_read(
    args: tuple[int, int, list[tuple[int, int]]], mode: Access
) -> None:
    width, value, chunks = args
    bank = AllModes()
    bank.poke(_name(mode, width), value)
    offset = _offset(mode, width)
    joined = 0
    for start, n in chunks:
        joined |= bank.read(offset + start, n) << (8 * start)
    assert joined == bank.read(offset, width // 8)


accesses = st.lists(
    st.tuples(
        st.booleans(),  # write?
        st.integers(0, 0x1F),  # offset, including holes and spans
        st.sampled_from([1, 2, 4, 8]),
        st.integers(0, (1 << 64) - 1),
    ),
    max_size=30,
)


@PROFILE
@given(st.integers(0, (1 << 64) - 1), accesses)
def test_fast_path_and_hooked_general_path_agree(
    start: int, ops: list[tuple[bool, int, int, int]]
) -> None:
    plain, hooked = Mixed(), PassThrough().regs
    for bank in (plain, hooked):
        bank.poke("a", start & ~Mixed.registers()[0].rsvd_mask)
        bank.poke("d", start)
    for is_write, offset, size, value in ops:
        if is_write:
            assert plain.write_ex(offset, value, size) == hooked.write_ex(offset, value, size)
        else:
            assert plain.read_ex(offset, size) == hooked.read_ex(offset, size)
        assert plain.snapshot() == hooked.snapshot()
