"""Unit tests of the register-bank framework (devices/regs.py)."""

from __future__ import annotations

import re

import pytest
from dmamon.devices.regs import (
    RC,
    RO,
    RSVD,
    RW,
    W1C,
    W1S,
    WO,
    Access,
    Field,
    FieldInfo,
    Reg,
    RegInfo,
    RegisterBank,
    RegView,
    before_write,
    on_read,
    on_write,
    validate_hooks,
)


def exact(message: str) -> str:
    """A `match=` pattern that accepts exactly ``message``."""
    return "^" + re.escape(message) + "$"


class EduRegs(RegisterBank, size=0x100, valid_sizes=(4, 8)):
    """A bank shaped like QEMU's edu device, plus one register of each access mode."""

    ident = Reg(0x00, access=RO, reset=0x010000ED, doc="identification")
    liveness = Reg(0x04, doc="inverted on read by the device")
    fact = Reg(0x08, doc="factorial")
    status = Reg(
        0x20,
        fields=(
            Field("computing", bit=0, access=RO),
            Field("irq_on_done", bit=7, doc="raise an interrupt when done"),
        ),
    )
    irq_status = Reg(0x24, access=RO)
    irq_raise = Reg(0x60, access=WO)
    irq_ack = Reg(0x64, access=W1C)
    irq_set = Reg(0x68, access=W1S)
    events = Reg(0x6C, access=RC)
    hole = Reg(0x70, access=RSVD)
    dma_src = Reg(0x80, width=64)
    dma_dst = Reg(0x88, width=64)
    dma_count = Reg(0x90, width=64)
    dma_cmd = Reg(
        0x98,
        width=64,
        fields=(
            Field("run", bit=0),
            Field("to_ram", bit=1, doc="1: device buffer to guest memory"),
            Field("irq", bit=2),
        ),
    )
    small = Reg(0xA0, width=8, reset=0x5A)
    half = Reg(0xA2, width=16)


class MixedRegs(RegisterBank, size=0x10):
    """One register with a field of every access mode."""

    mixed = Reg(
        0x00,
        fields=(
            Field("ro", bit=0, width=4, access=RO, reset=0xA),
            Field("wo", bit=4, width=4, access=WO),
            Field("rw", bit=8, width=4, access=RW, reset=0x3),
            Field("w1c", bit=12, width=4, access=W1C, reset=0xF),
            Field("w1s", bit=16, width=4, access=W1S, reset=0x1),
            Field("rc", bit=20, width=4, access=RC, reset=0x6),
            Field("rsvd", bit=24, width=4, access=RSVD),
        ),
    )


@pytest.fixture
def bank() -> EduRegs:
    return EduRegs()


# --------------------------------------------------------------------------------------------
# Declarations are checked when the class is created


def test_register_at_misaligned_offset_is_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=exact("Bad: register 'b' at offset 0x4 is not aligned to its width (64 bits)"),
    ):

        class Bad(RegisterBank, size=0x10):
            b = Reg(0x04, width=64)


def test_overlapping_registers_are_rejected() -> None:
    with pytest.raises(
        ValueError, match=exact("Bad: registers 'a' (0x0..0x7) and 'b' (0x4..0x7) overlap")
    ):

        class Bad(RegisterBank, size=0x10):
            a = Reg(0x00, width=64)
            b = Reg(0x04)


def test_the_same_reg_object_under_two_names_is_rejected_as_an_overlap() -> None:
    with pytest.raises(
        ValueError, match=exact("Bad: registers 'a' (0x0..0x3) and 'b' (0x0..0x3) overlap")
    ):

        class Bad(RegisterBank, size=0x10):
            a = b = Reg(0x00)


def test_register_beyond_bank_size_is_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=exact("Bad: register 'tail' (0x100..0x103) extends beyond the bank size 0x100"),
    ):

        class Bad(RegisterBank, size=0x100):
            tail = Reg(0x100)


def test_field_beyond_register_width_is_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=exact("Bad: field 'run' (bits 31..40) is wider than register 'dma_cmd' (32 bits)"),
    ):

        class Bad(RegisterBank, size=0x10):
            dma_cmd = Reg(0x00, fields=(Field("run", bit=31, width=10),))


def test_single_bit_field_beyond_register_width_names_one_bit() -> None:
    with pytest.raises(
        ValueError, match=exact("Bad: field 'top' (bit 8) is wider than register 'r' (8 bits)")
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, width=8, fields=(Field("top", bit=8),))


def test_overlapping_fields_are_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=exact("Bad: fields 'a' (bits 0..3) and 'b' (bit 3) of register 'r' overlap"),
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, fields=(Field("b", bit=3), Field("a", bit=0, width=4)))


def test_duplicate_field_names_are_rejected() -> None:
    with pytest.raises(ValueError, match=exact("Bad: duplicate field name 'en' in register 'r'")):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, fields=(Field("en", bit=0), Field("en", bit=1)))


def test_register_reset_value_that_does_not_fit_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=exact("Bad: register 'r' reset value 0x1ffffffff does not fit in 32 bits")
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, reset=0x1_FFFF_FFFF)


def test_negative_register_reset_value_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=exact("Bad: register 'r' reset value -0x1 does not fit in 32 bits")
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, reset=-1)


def test_field_reset_value_that_does_not_fit_is_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=exact("Bad: field 'run' of register 'r' reset value 0x2 does not fit in 1 bit"),
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, fields=(Field("run", bit=0, reset=2),))


def test_register_reset_setting_reserved_bits_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=exact("Bad: register 'r' reset value 0x3 sets reserved bits 0x2")
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, reset=0x3, fields=(Field("en", bit=0),))


def test_register_and_field_reset_that_disagree_are_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=exact(
            "Bad: register 'r' reset value 0x1 disagrees with the reset value 0x2 of its field 'n'"
        ),
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, reset=0x1, fields=(Field("n", bit=0, width=2, reset=2),))


def test_invalid_register_access_mode_is_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=exact(
            "Bad: register 'r' has invalid access mode 'rw' "
            "(expected RO, WO, RW, W1C, W1S, RC, RSVD)"
        ),
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, access="rw")  # type: ignore[arg-type]


def test_invalid_field_access_mode_is_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=exact(
            "Bad: field 'en' of register 'r' has invalid access mode 3 "
            "(expected RO, WO, RW, W1C, W1S, RC, RSVD)"
        ),
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, fields=(Field("en", bit=0, access=3),))  # type: ignore[arg-type]


def test_invalid_register_width_is_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=exact("Bad: register 'r' has invalid width 24 (expected 8, 16, 32 or 64 bits)"),
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, width=24)


def test_negative_register_offset_is_rejected() -> None:
    with pytest.raises(ValueError, match=exact("Bad: register 'r' has invalid offset -4")):

        class Bad(RegisterBank, size=0x10):
            r = Reg(-4)


def test_field_with_negative_bit_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=exact("Bad: field 'en' of register 'r' has invalid bit -1")
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, fields=(Field("en", bit=-1),))


def test_field_with_zero_width_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=exact("Bad: field 'en' of register 'r' has invalid width 0")
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, fields=(Field("en", bit=0, width=0),))


def test_register_name_that_is_not_lower_snake_is_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=exact(
            "Bad: register name 'DMA_CMD' is not lower_snake "
            "(a-z, 0-9 and _, starting with a letter)"
        ),
    ):

        class Bad(RegisterBank, size=0x10):
            DMA_CMD = Reg(0x00)


def test_field_name_that_is_not_lower_snake_is_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=exact(
            "Bad: field name 'Run' of register 'r' is not lower_snake "
            "(a-z, 0-9 and _, starting with a letter)"
        ),
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, fields=(Field("Run", bit=0),))


def test_register_name_that_shadows_a_bank_method_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=exact("Bad: register name 'reset' shadows RegisterBank.reset")
    ):

        class Bad(RegisterBank, size=0x10):
            reset = Reg(0x00)  # type: ignore[assignment]


def test_field_name_used_by_the_register_view_is_rejected() -> None:
    with pytest.raises(
        ValueError,
        match=exact("Bad: field name 'value' of register 'r' is reserved (RegView has .value)"),
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, fields=(Field("value", bit=0),))


def test_field_that_is_not_a_field_object_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=exact("Bad: register 'r' has a field that is not a Field: 'en'")
    ):

        class Bad(RegisterBank, size=0x10):
            r = Reg(0x00, fields=("en",))  # type: ignore[arg-type]


def test_bank_with_registers_needs_a_size() -> None:
    with pytest.raises(
        ValueError,
        match=exact("Bad: a bank with registers needs a size: class Bad(RegisterBank, size=0x...)"),
    ):

        class Bad(RegisterBank):
            r = Reg(0x00)


def test_bank_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match=exact("Bad: bank size must be a positive int, got 0")):

        class Bad(RegisterBank, size=0):
            pass


def test_valid_sizes_must_be_drawn_from_1_2_4_8() -> None:
    with pytest.raises(
        ValueError,
        match=exact("Bad: valid_sizes must be a non-empty subset of (1, 2, 4, 8), got (4, 3)"),
    ):

        class Bad(RegisterBank, size=0x10, valid_sizes=(4, 3)):
            pass


def test_class_keywords_are_recorded() -> None:
    assert EduRegs.size == 0x100
    assert EduRegs.valid_sizes == (4, 8)
    assert MixedRegs.valid_sizes == (1, 2, 4, 8)


def test_fields_given_as_a_list_are_accepted() -> None:
    class Listed(RegisterBank, size=0x10):
        r = Reg(0x00, fields=[Field("en", bit=0)])  # type: ignore[arg-type]

    assert Listed.r.fields == (Field("en", bit=0),)


def test_subclass_inherits_registers_and_size() -> None:
    class EduRegsV2(EduRegs):
        extra = Reg(0xB0)

    names = [r.name for r in EduRegsV2.registers()]
    assert names[:2] == ["ident", "liveness"]
    assert names[-1] == "extra"
    assert EduRegsV2.size == 0x100
    assert EduRegsV2().read(0x00, 4) == 0x010000ED


# --------------------------------------------------------------------------------------------
# Access modes


def test_rw_register_reads_back_what_was_written(bank: EduRegs) -> None:
    bank.write(0x04, 0x12345678, 4)
    assert bank.read(0x04, 4) == 0x12345678


def test_ro_register_ignores_writes(bank: EduRegs) -> None:
    bank.write(0x00, 0xFFFFFFFF, 4)
    assert bank.read(0x00, 4) == 0x010000ED


def test_wo_register_reads_zero_but_stores_the_write(bank: EduRegs) -> None:
    bank.write(0x60, 0x100, 4)
    assert bank.read(0x60, 4) == 0
    assert bank.peek("irq_raise") == 0x100


def test_w1c_field_clears_only_written_ones(bank: EduRegs) -> None:
    bank.poke("irq_ack", 0b1111)
    bank.write(0x64, 0b0101, 4)
    assert bank.read(0x64, 4) == 0b1010


def test_w1s_field_sets_only_written_ones(bank: EduRegs) -> None:
    bank.poke("irq_set", 0b1000)
    bank.write(0x68, 0b0011, 4)
    assert bank.read(0x68, 4) == 0b1011


def test_rc_register_returns_its_value_then_clears(bank: EduRegs) -> None:
    bank.poke("events", 0x81)
    assert bank.read(0x6C, 4) == 0x81
    assert bank.read(0x6C, 4) == 0


def test_rc_register_ignores_writes(bank: EduRegs) -> None:
    bank.poke("events", 0x81)
    bank.write(0x6C, 0xFF, 4)
    assert bank.peek("events") == 0x81


def test_reserved_register_reads_zero_and_ignores_writes(bank: EduRegs) -> None:
    bank.write(0x70, 0xFFFFFFFF, 4)
    assert bank.read(0x70, 4) == 0
    assert bank.peek("hole") == 0


def test_bits_no_field_covers_are_reserved(bank: EduRegs) -> None:
    bank.write(0x20, 0xFFFFFFFF, 4)
    assert bank.read(0x20, 4) == 0x80
    assert EduRegs.lookup("status") is not None
    assert EduRegs.lookup("status").rsvd_mask == 0xFFFFFF7E  # type: ignore[union-attr]


def test_field_without_an_access_mode_takes_the_registers() -> None:
    class Status(RegisterBank, size=0x10):
        r = Reg(0x00, access=RO, fields=(Field("a", bit=0), Field("b", bit=1, access=RW)))

    s = Status()
    s.write(0x00, 0b11, 4)
    assert s.read(0x00, 4) == 0b10
    assert [f.access for f in Status.registers()[0].fields] == [RO, RW]


def test_each_field_of_a_mixed_register_follows_its_own_mode() -> None:
    bank = MixedRegs()
    bank.poke("mixed", 0x0_6_F_F_3_5_A)
    bank.write(0x00, 0xFFFF_FFFF, 4)
    # rsvd 0, rc kept, w1s set, w1c cleared, rw stored, wo stored, ro kept
    assert bank.peek("mixed") == 0x0_6_F_0_F_F_A
    assert bank.read(0x00, 4) == 0x0_6_F_0_F_0_A  # WO reads as 0
    assert bank.peek("mixed") == 0x0_0_F_0_F_F_A  # the read cleared RC
    bank.write(0x00, 0, 4)
    assert bank.peek("mixed") == 0x0_0_F_0_0_0_A  # w1s and w1c ignore zeros


def test_register_masks_are_precomputed_per_mode() -> None:
    (r,) = MixedRegs.registers()
    assert (r.ro_mask, r.wo_mask, r.rw_mask) == (0xF, 0xF0, 0xF00)
    assert (r.w1c_mask, r.w1s_mask, r.rc_mask) == (0xF000, 0xF0000, 0xF00000)
    assert r.rsvd_mask == 0xFF000000
    assert r.read_mask == 0x00FFFF0F
    assert r.write_mask == 0xFF0


def test_module_aliases_are_the_access_members() -> None:
    assert tuple(Access) == (RO, WO, RW, W1C, W1S, RC, RSVD)


# --------------------------------------------------------------------------------------------
# Sub-register, spanning and unmapped accesses


def test_four_byte_read_of_the_high_half_of_a_64_bit_register(bank: EduRegs) -> None:
    bank.poke("dma_src", 0x11223344_55667788)
    assert bank.read(0x84, 4) == 0x11223344
    assert bank.read(0x80, 4) == 0x55667788


def test_four_byte_write_to_one_half_keeps_the_other(bank: EduRegs) -> None:
    bank.poke("dma_src", 0x11223344_55667788)
    bank.write(0x84, 0xAABBCCDD, 4)
    assert bank.peek("dma_src") == 0xAABBCCDD_55667788
    bank.write(0x80, 0x01020304, 4)
    assert bank.peek("dma_src") == 0xAABBCCDD_01020304


def test_byte_write_into_the_middle_of_a_register(bank: EduRegs) -> None:
    bank.write(0x04, 0x11223344, 4)
    bank.write(0x06, 0xEE, 1)
    assert bank.read(0x04, 4) == 0x11EE3344


def test_unaligned_access_inside_one_register(bank: EduRegs) -> None:
    bank.write(0x04, 0x11223344, 4)
    assert bank.read(0x05, 2) == 0x2233
    bank.write(0x05, 0xBEEF, 2)
    assert bank.read(0x04, 4) == 0x11BEEF44


def test_access_spanning_two_registers_touches_both(bank: EduRegs) -> None:
    bank.write(0x04, 0xCAFEF00D_AAAAAAAA, 8)  # liveness (RW) and fact (RW)
    assert bank.peek("liveness") == 0xAAAAAAAA
    assert bank.peek("fact") == 0xCAFEF00D
    assert bank.read(0x06, 4) == 0xF00DAAAA


def test_spanning_access_applies_each_registers_mode(bank: EduRegs) -> None:
    bank.write(0x00, 0xFFFFFFFF_FFFFFFFF, 8)  # ident (RO) then liveness (RW)
    assert bank.read(0x00, 8) == 0xFFFFFFFF_010000ED


def test_access_partly_over_a_hole_reads_zero_there(bank: EduRegs) -> None:
    bank.write(0x24, 0, 4)
    bank.poke("irq_status", 0x55)
    value, hit = bank.read_ex(0x24, 8)  # 0x28..0x2b is unmapped
    assert (value, hit) == (0x55, True)


def test_unmapped_offset_reads_zero_and_reports_a_miss(bank: EduRegs) -> None:
    assert bank.read(0x0C, 4) == 0
    assert bank.read_ex(0x0C, 4) == (0, False)
    assert bank.read_ex(0x1000, 4) == (0, False)


def test_unmapped_write_is_ignored_and_reports_a_miss(bank: EduRegs) -> None:
    before = bank.snapshot()
    assert bank.write_ex(0x0C, 0xFFFFFFFF, 4) is False
    bank.write(0x0C, 0xFFFFFFFF, 4)
    assert bank.snapshot() == before


def test_mapped_accesses_report_a_hit(bank: EduRegs) -> None:
    assert bank.read_ex(0x00, 4) == (0x010000ED, True)
    assert bank.write_ex(0x04, 1, 4) is True
    assert bank.write_ex(0x64, 1, 4) is True  # W1C: general path


def test_eight_and_sixteen_bit_registers(bank: EduRegs) -> None:
    assert bank.read(0xA0, 1) == 0x5A
    bank.write(0xA2, 0x1234, 2)
    assert bank.read(0xA0, 4) == 0x1234_005A  # 0xa1 is a hole


def test_write_ignores_value_bits_beyond_the_access_size(bank: EduRegs) -> None:
    bank.write(0x04, 0xFFFF_1234, 2)
    assert bank.read(0x04, 4) == 0x1234
    bank.write(0x64, 0, 4)
    bank.poke("irq_ack", 0xFFFF)
    bank.write(0x64, 0xFFFF_0001, 1)
    assert bank.peek("irq_ack") == 0xFFFE


def test_rc_read_clears_only_the_bytes_read(bank: EduRegs) -> None:
    bank.poke("events", 0x0000_FF01)
    assert bank.read(0x6C, 1) == 0x01
    assert bank.peek("events") == 0x0000_FF00


def test_w1c_byte_write_touches_only_that_byte(bank: EduRegs) -> None:
    bank.poke("irq_ack", 0xFFFF_FFFF)
    bank.write(0x65, 0xFF, 1)
    assert bank.peek("irq_ack") == 0xFFFF_00FF


def test_access_size_must_be_positive(bank: EduRegs) -> None:
    with pytest.raises(
        ValueError, match=exact("access size must be a positive number of bytes, got 0")
    ):
        bank.read(0x04, 0)
    with pytest.raises(
        ValueError, match=exact("access size must be a positive number of bytes, got -4")
    ):
        bank.write(0x04, 1, -4)


# --------------------------------------------------------------------------------------------
# Hooks


class EduDevice:
    """An owner with one hook of each kind."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.regs = EduRegs(owner=self)

    @on_write("dma_cmd")
    def _cmd_written(self, old: int, new: int) -> None:
        self.calls.append(("dma_cmd", old, new))
        self.calls.append(("stored", self.regs.peek("dma_cmd"), 0))

    @on_write("irq_ack")
    def _ack_written(self, old: int, new: int) -> None:
        self.calls.append(("irq_ack", old, new))

    @on_write("liveness")
    @on_write("fact")
    def _either_written(self, old: int, new: int) -> None:
        self.calls.append(("either", old, new))

    @on_read("status")
    def _status(self, value: int) -> int:
        self.calls.append(("status", value, 0))
        return value | 0x1  # computing

    @on_read("events")
    def _events(self, value: int) -> int:
        self.calls.append(("events", value, self.regs.peek("events")))
        return value

    @before_write("dma_src")
    def _src_filter(self, old: int, new: int) -> int | None:
        self.calls.append(("before", old, new))
        if new == 0xDEAD:
            return None
        return new & ~0xFFF  # page aligned

    @on_write("dma_src")
    def _src_written(self, old: int, new: int) -> None:
        self.calls.append(("dma_src", old, new))


def test_on_write_gets_old_and_new_after_access_rules() -> None:
    dev = EduDevice()
    dev.regs.write(0x98, 0xFFFF, 8)
    assert dev.calls[0] == ("dma_cmd", 0, 0b111)


def test_on_write_runs_after_the_value_is_stored() -> None:
    dev = EduDevice()
    dev.regs.write(0x98, 0b101, 8)
    assert dev.calls == [("dma_cmd", 0, 0b101), ("stored", 0b101, 0)]


def test_on_write_runs_even_when_the_value_does_not_change() -> None:
    dev = EduDevice()
    dev.regs.write(0x64, 0x1, 4)
    dev.regs.write(0x64, 0x1, 4)
    assert dev.calls == [("irq_ack", 0, 0), ("irq_ack", 0, 0)]


def test_w1c_hook_sees_the_cleared_value() -> None:
    dev = EduDevice()
    dev.regs.poke("irq_ack", 0b11)
    dev.regs.write(0x64, 0b01, 4)
    assert dev.calls == [("irq_ack", 0b11, 0b10)]


def test_partial_write_gives_the_hook_whole_register_values() -> None:
    dev = EduDevice()
    dev.regs.poke("dma_cmd", 0b101)
    dev.regs.write(0x9C, 0xFFFF_FFFF, 4)  # the high half: all reserved
    assert dev.calls[0] == ("dma_cmd", 0b101, 0b101)


def test_one_method_may_hook_several_registers() -> None:
    dev = EduDevice()
    dev.regs.write(0x04, 7, 4)
    dev.regs.write(0x08, 9, 4)
    assert dev.calls == [("either", 0, 7), ("either", 0, 9)]


def test_spanning_write_runs_hooks_in_offset_order() -> None:
    dev = EduDevice()
    dev.regs.write(0x04, 0x00000002_00000001, 8)
    assert dev.calls == [("either", 0, 1), ("either", 0, 2)]


def test_on_read_return_value_is_what_the_guest_sees() -> None:
    dev = EduDevice()
    dev.regs.poke("status", 0x80)
    assert dev.regs.read(0x20, 4) == 0x81
    assert dev.calls == [("status", 0x80, 0)]
    assert dev.regs.peek("status") == 0x80


def test_on_read_value_is_cut_to_the_access() -> None:
    dev = EduDevice()
    dev.regs.poke("status", 0x80)
    assert dev.regs.read(0x21, 1) == 0
    assert dev.regs.read(0x20, 1) == 0x81


def test_rc_bits_are_cleared_after_the_read_hook() -> None:
    dev = EduDevice()
    dev.regs.poke("events", 0x3)
    assert dev.regs.read(0x6C, 4) == 0x3
    assert dev.calls == [("events", 0x3, 0x3)]
    assert dev.regs.peek("events") == 0


def test_before_write_transforms_the_stored_value() -> None:
    dev = EduDevice()
    dev.regs.write(0x80, 0x12345, 8)
    assert dev.regs.peek("dma_src") == 0x12000
    assert dev.calls == [("before", 0, 0x12345), ("dma_src", 0, 0x12000)]


def test_before_write_returning_none_drops_the_write_and_the_on_write_hook() -> None:
    dev = EduDevice()
    dev.regs.poke("dma_src", 0x5000)
    dev.regs.write(0x80, 0xDEAD, 8)
    assert dev.regs.peek("dma_src") == 0x5000
    assert dev.calls == [("before", 0x5000, 0xDEAD)]


def test_before_write_gets_the_merged_value_for_a_partial_write() -> None:
    dev = EduDevice()
    dev.regs.poke("dma_src", 0x1_0000_0000)
    dev.regs.write(0x80, 0x2345, 4)
    assert dev.calls[0] == ("before", 0x1_0000_0000, 0x1_0000_2345)
    assert dev.regs.peek("dma_src") == 0x1_0000_2000


def test_peek_poke_and_fields_run_no_hooks() -> None:
    dev = EduDevice()
    dev.regs.poke("dma_cmd", 1)
    dev.regs.set_field("dma_cmd", "irq", 1)
    dev.regs.peek("status")
    dev.regs.peek("events")
    dev.regs.field("status", "computing")
    dev.regs.dma_cmd.run = 0
    dev.regs.reset()
    assert dev.calls == []


def test_registers_without_hooks_behave_the_same_with_an_owner() -> None:
    dev = EduDevice()
    dev.regs.write(0x84, 0xFFFF_FFFF, 4)  # dma_src is hooked; dma_dst is not
    dev.regs.write(0x88, 0x1234_5678_9ABC_DEF0, 8)
    assert dev.regs.read(0x8C, 4) == 0x1234_5678
    assert dev.regs.read(0x00, 4) == 0x010000ED


def test_hooks_are_bound_when_the_bank_is_created() -> None:
    dev = EduDevice()
    calls: list[int] = []
    original = EduDevice._ack_written
    EduDevice._ack_written = lambda self, old, new: calls.append(new)  # type: ignore[method-assign]
    try:
        dev.regs.write(0x64, 1, 4)
        assert calls == []
        assert dev.calls == [("irq_ack", 0, 0)]
    finally:
        EduDevice._ack_written = original  # type: ignore[method-assign]


def test_subclass_override_replaces_the_inherited_hook() -> None:
    class Quiet(EduDevice):
        def _ack_written(self, old: int, new: int) -> None:
            self.calls.append(("quiet", old, new))

    dev = Quiet()
    dev.regs.write(0x64, 1, 4)
    assert dev.calls == []  # the override carries no mark


def test_bank_without_owner_has_no_hooks(bank: EduRegs) -> None:
    bank.write(0x80, 0x12345, 8)
    assert bank.peek("dma_src") == 0x12345


def test_qualified_hook_binds_only_to_the_named_bank() -> None:
    class OtherRegs(RegisterBank, size=0x10):
        ctrl = Reg(0x00)

    class ThirdRegs(RegisterBank, size=0x10):
        ctrl = Reg(0x00)

    class Owner:
        def __init__(self) -> None:
            self.seen: list[str] = []
            self.a = OtherRegs(owner=self)
            self.b = ThirdRegs(owner=self)

        @on_write("ThirdRegs.ctrl")
        def _ctrl(self, old: int, new: int) -> None:
            self.seen.append("third")

    validate_hooks(Owner, OtherRegs, ThirdRegs)
    o = Owner()
    o.a.write(0, 1, 4)
    o.b.write(0, 1, 4)
    assert o.seen == ["third"]


def test_qualified_hook_naming_an_unknown_register_fails_when_the_bank_is_created() -> None:
    class Owner:
        @on_write("EduRegs.dma_cmdd")
        def _x(self, old: int, new: int) -> None:
            pass

    with pytest.raises(
        ValueError,
        match=r"^Owner: on_write hook '_x' names unknown register 'dma_cmdd' "
        r"\(EduRegs has: ident, liveness, ",
    ):
        EduRegs(owner=Owner())


def test_hook_decorator_needs_a_register_name() -> None:
    with pytest.raises(ValueError, match=exact("on_write needs a register name, got ''")):
        on_write("")


# --------------------------------------------------------------------------------------------
# validate_hooks


def test_validate_hooks_accepts_a_correct_owner() -> None:
    validate_hooks(EduDevice, EduRegs)


def test_validate_hooks_reports_an_unknown_register() -> None:
    class Owner:
        @on_write("dma_cmdd")
        def _x(self, old: int, new: int) -> None:
            pass

    names = ", ".join(r.name for r in EduRegs.registers())
    with pytest.raises(
        ValueError,
        match=exact(
            f"Owner: on_write hook '_x' names unknown register 'dma_cmdd' (EduRegs has: {names})"
        ),
    ):
        validate_hooks(Owner, EduRegs)


def test_validate_hooks_reports_an_unknown_qualified_register() -> None:
    class Owner:
        @on_read("MixedRegs.nope")
        def _x(self, value: int) -> int:
            return value

    with pytest.raises(
        ValueError,
        match=exact(
            "Owner: on_read hook '_x' names unknown register 'nope' (MixedRegs has: mixed)"
        ),
    ):
        validate_hooks(Owner, EduRegs, MixedRegs)


def test_validate_hooks_reports_an_unknown_bank() -> None:
    class Owner:
        @on_read("NicRegs.ctrl")
        def _x(self, value: int) -> int:
            return value

    with pytest.raises(
        ValueError,
        match=exact(
            "Owner: on_read hook '_x' names unknown register bank 'NicRegs' "
            "(banks: EduRegs, MixedRegs)"
        ),
    ):
        validate_hooks(Owner, EduRegs, MixedRegs)


def test_validate_hooks_reports_a_name_present_in_two_banks() -> None:
    class Edu2Regs(RegisterBank, size=0x100):
        dma_cmd = Reg(0x00)

    class Owner:
        @on_write("dma_cmd")
        def _x(self, old: int, new: int) -> None:
            pass

    with pytest.raises(
        ValueError,
        match=exact(
            "Owner: on_write hook '_x' names register 'dma_cmd', which EduRegs and Edu2Regs "
            "both have; qualify it as 'EduRegs.dma_cmd'"
        ),
    ):
        validate_hooks(Owner, EduRegs, Edu2Regs)


def test_validate_hooks_accepts_a_qualified_name_present_in_two_banks() -> None:
    class Edu2Regs(RegisterBank, size=0x100):
        dma_cmd = Reg(0x00)

    class Owner:
        @on_write("Edu2Regs.dma_cmd")
        def _x(self, old: int, new: int) -> None:
            pass

    validate_hooks(Owner, EduRegs, Edu2Regs)


def test_validate_hooks_reports_two_hooks_of_one_kind_on_one_register() -> None:
    class Owner:
        @on_write("liveness")
        def _a(self, old: int, new: int) -> None:
            pass

        @on_write("EduRegs.liveness")
        def _b(self, old: int, new: int) -> None:
            pass

    with pytest.raises(
        ValueError,
        match=exact(
            "Owner: on_write hook '_b' and '_a' are both on_write hooks of register "
            "EduRegs.liveness"
        ),
    ):
        validate_hooks(Owner, EduRegs)
    with pytest.raises(ValueError, match="are both on_write hooks of register EduRegs.liveness$"):
        EduRegs(owner=Owner())


def test_validate_hooks_reports_a_hook_with_the_wrong_parameters() -> None:
    class Owner:
        @on_write("liveness")
        def _a(self, new: int) -> None:  # type: ignore[type-var]
            pass

    with pytest.raises(
        ValueError,
        match=exact(
            "Owner: on_write hook '_a' must take (self, old, new), "
            "not _a(self, new: 'int') -> 'None'"
        ),
    ):
        validate_hooks(Owner, EduRegs)


def test_validate_hooks_with_no_banks_reports_every_hook() -> None:
    with pytest.raises(
        ValueError,
        match=exact(
            "EduDevice: on_write hook '_cmd_written' names unknown register 'dma_cmd' "
            "(no register banks)"
        ),
    ):
        validate_hooks(EduDevice)


def test_validate_hooks_rejects_a_class_that_is_not_a_bank() -> None:
    with pytest.raises(
        TypeError, match=exact("EduDevice: <class 'int'> is not a RegisterBank subclass")
    ):
        validate_hooks(EduDevice, int)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Device-side access: peek, poke, fields, views, reset


def test_peek_has_no_side_effects(bank: EduRegs) -> None:
    bank.poke("events", 0x42)
    assert bank.peek("events") == 0x42
    assert bank.peek("events") == 0x42
    assert bank.read(0x6C, 4) == 0x42


def test_poke_bypasses_access_modes(bank: EduRegs) -> None:
    bank.poke("ident", 0x1234)
    assert bank.read(0x00, 4) == 0x1234


def test_poke_drops_reserved_bits(bank: EduRegs) -> None:
    bank.poke("status", 0xFF)
    assert bank.peek("status") == 0x81


def test_poke_rejects_a_value_wider_than_the_register(bank: EduRegs) -> None:
    with pytest.raises(
        ValueError, match=exact("value 0x100000000 does not fit register 'liveness' (32 bits)")
    ):
        bank.poke("liveness", 1 << 32)
    with pytest.raises(
        ValueError, match=exact("value -0x1 does not fit register 'liveness' (32 bits)")
    ):
        bank.poke("liveness", -1)


def test_unknown_register_name_raises_key_error(bank: EduRegs) -> None:
    with pytest.raises(
        KeyError, match="EduRegs has no register 'nope' \\(it has: ident, liveness, "
    ):
        bank.peek("nope")


def test_field_reads_and_set_field_writes_one_field(bank: EduRegs) -> None:
    bank.poke("dma_cmd", 0b101)
    assert bank.field("dma_cmd", "irq") == 1
    assert bank.field("dma_cmd", "to_ram") == 0
    bank.set_field("dma_cmd", "to_ram", 1)
    bank.set_field("dma_cmd", "run", 0)
    assert bank.peek("dma_cmd") == 0b110


def test_set_field_rejects_a_value_wider_than_the_field(bank: EduRegs) -> None:
    with pytest.raises(ValueError, match=exact("value 0x2 does not fit field dma_cmd.run (1 bit)")):
        bank.set_field("dma_cmd", "run", 2)


def test_unknown_field_name_raises_key_error(bank: EduRegs) -> None:
    with pytest.raises(
        KeyError, match=re.escape("register 'dma_cmd' has no field 'go' (it has: run, to_ram, irq)")
    ):
        bank.field("dma_cmd", "go")


def test_register_attribute_of_an_instance_is_a_view(bank: EduRegs) -> None:
    view = bank.dma_cmd
    assert isinstance(view, RegView)
    view.value = 0b011
    assert bank.peek("dma_cmd") == 0b011
    assert (view.run, view.to_ram, view.irq) == (1, 1, 0)
    view.irq = 1
    assert view.value == 0b111
    assert int(view) == 0b111
    assert view.name == "dma_cmd"
    assert view.info is EduRegs.lookup("dma_cmd")
    assert repr(view) == "<EduRegs.dma_cmd @0x98 = 0x7>"


def test_register_view_rejects_unknown_fields(bank: EduRegs) -> None:
    with pytest.raises(AttributeError, match="has no field 'go'"):
        _ = bank.dma_cmd.go
    with pytest.raises(AttributeError, match="has no field 'go'"):
        bank.dma_cmd.go = 1


def test_register_attribute_of_the_class_is_the_declaration() -> None:
    assert EduRegs.dma_cmd == Reg(0x98, width=64, fields=EduRegs.dma_cmd.fields)


def test_assigning_a_register_attribute_is_refused(bank: EduRegs) -> None:
    with pytest.raises(
        AttributeError,
        match=exact(
            "cannot assign register 'liveness'; assign bank.liveness.value or use bank.poke()"
        ),
    ):
        bank.liveness = 3  # type: ignore[assignment]


def test_reset_restores_every_reset_value(bank: EduRegs) -> None:
    for r in EduRegs.registers():
        bank.poke(r.name, 0)
    bank.reset()
    assert bank.peek("ident") == 0x010000ED
    assert bank.peek("small") == 0x5A
    assert bank.peek("liveness") == 0


def test_field_reset_values_make_up_the_register_reset() -> None:
    assert MixedRegs().peek("mixed") == 0x61F30A
    assert MixedRegs.registers()[0].reset == 0x61F30A


def test_snapshot_and_restore_round_trip(bank: EduRegs) -> None:
    bank.write(0x04, 0x99, 4)
    saved = bank.snapshot()
    assert saved["liveness"] == 0x99
    bank.reset()
    bank.restore(saved)
    assert bank.snapshot() == saved


# --------------------------------------------------------------------------------------------
# Introspection


def test_registers_are_listed_in_offset_order() -> None:
    offsets = [r.offset for r in EduRegs.registers()]
    assert offsets == sorted(offsets)
    assert EduRegs.registers()[0] == EduRegs.lookup("ident")


def test_register_info_describes_the_declaration() -> None:
    info = EduRegs.lookup("dma_cmd")
    assert isinstance(info, RegInfo)
    assert (info.name, info.offset, info.width, info.size) == ("dma_cmd", 0x98, 64, 8)
    assert (info.access, info.reset, info.doc) == (RW, 0, "")
    assert info.fields[1] == FieldInfo("to_ram", 1, 1, RW, 0, "1: device buffer to guest memory")
    assert EduRegs.lookup("ident").doc == "identification"  # type: ignore[union-attr]


def test_decode_splits_a_value_into_fields() -> None:
    assert EduRegs.decode("dma_cmd", 0b101) == [("run", 1), ("to_ram", 0), ("irq", 1)]
    assert MixedRegs.decode("mixed", 0x61F30A)[:3] == [("ro", 0xA), ("wo", 0), ("rw", 3)]


def test_decode_of_a_register_without_fields_is_empty() -> None:
    assert EduRegs.decode("liveness", 0x1234) == []


def test_decode_of_an_unknown_register_raises_key_error() -> None:
    with pytest.raises(KeyError, match="EduRegs has no register 'nope'"):
        EduRegs.decode("nope", 0)


def test_lookup_by_name_is_case_insensitive() -> None:
    assert EduRegs.lookup("DMA_CMD") is EduRegs.lookup("dma_cmd")


def test_lookup_by_offset_finds_the_register_covering_it() -> None:
    assert EduRegs.lookup(0x98).name == "dma_cmd"  # type: ignore[union-attr]
    assert EduRegs.lookup(0x9C).name == "dma_cmd"  # type: ignore[union-attr]


def test_lookup_of_nothing_returns_none() -> None:
    assert EduRegs.lookup(0x0C) is None
    assert EduRegs.lookup("nope") is None


def test_bank_repr_names_class_size_and_owner() -> None:
    assert repr(EduRegs()) == "<EduRegs size=0x100 owner=None>"
    assert repr(EduDevice().regs) == "<EduRegs size=0x100 owner=EduDevice>"
