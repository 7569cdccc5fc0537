"""Text renderers for ``info mtree`` and ``info mtree -f`` in QEMU 7.2's layout.

Pure functions of a list of address spaces: no output, no state. The layout follows
QEMU 7.2's ``mtree_info`` (softmmu/memory.c) byte for byte; where QEMU walks hash
tables (whose order differs between runs) dmamon uses the order the address spaces are
given in, so the output is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dmamon.memory.region import MemoryRegion, RegionKind

if TYPE_CHECKING:
    from dmamon.memory.address_space import AddressSpace

__all__ = ["flatview_root", "render_mtree"]

INDENT = "  "  # QEMU MTREE_INDENT
_U64 = (1 << 64) - 1


def render_mtree(
    spaces: Sequence[AddressSpace],
    *,
    flat: bool = False,
    show_disabled: bool = False,
    owner: bool = False,
) -> list[str]:
    """Render ``info mtree`` (or ``info mtree -f`` with ``flat``) as lines.

    Every block (address space, alias target, flat view) ends with an empty line, as
    QEMU prints it; join the result with newlines to get QEMU's text.

    Args:
        spaces: the address spaces, in the order to list them (``machine.address_spaces()``).
        flat: render the flattened views (``-f``) instead of the region trees.
        show_disabled: also print disabled regions, marked `` [disabled]`` (``-D``;
            ignored with ``flat``, as QEMU ignores it).
        owner: append each region's owner (``-o``).

    Returns:
        The output lines, without newline characters.
    """
    if flat:
        return _render_flat(spaces, owner)
    return _render_tree(spaces, show_disabled, owner)


# -- region trees (QEMU 7.2 mtree_info_as / mtree_print_mr) ------------------------------


def _render_tree(spaces: Sequence[AddressSpace], show_disabled: bool, owner: bool) -> list[str]:
    # Address spaces sharing a root print as consecutive headers over one tree; within a
    # root they are sorted by name as g_slist_insert_sorted(address_space_compare_name)
    # sorts them (a newcomer goes before an equal name).
    groups: dict[int, tuple[MemoryRegion | None, list[AddressSpace]]] = {}
    for space in spaces:
        key = id(space.root)
        if key not in groups:
            groups[key] = (space.root, [])
        members = groups[key][1]
        i = 0
        while i < len(members) and members[i].name < space.name:
            i += 1
        members.insert(i, space)

    out: list[str] = []
    alias_queue: list[MemoryRegion] = []
    for root, members in groups.values():
        for space in members:
            out.append(f"address-space: {space.name}")
        if root is not None:
            _print_mr(root, 1, 0, alias_queue, owner, show_disabled, out)
        out.append("")
    # Every alias target met on the way, including ones met while printing these blocks
    # (the queue grows while it is walked, as QEMU's QTAILQ_FOREACH does).
    i = 0
    while i < len(alias_queue):
        mr = alias_queue[i]
        out.append(f"memory-region: {mr.name}")
        _print_mr(mr, 1, 0, alias_queue, owner, show_disabled, out)
        out.append("")
        i += 1
    return out


def _print_mr(
    mr: MemoryRegion,
    level: int,
    base: int,
    alias_queue: list[MemoryRegion],
    owner: bool,
    show_disabled: bool,
    out: list[str],
) -> None:
    start = base + mr.addr
    end = start + mr.size - 1
    # QEMU's hwaddr arithmetic wraps; it flags the overflow instead of hiding it.
    prefix = "[DETECTED OVERFLOW!] " if end > _U64 else ""
    start &= _U64
    end &= _U64
    if mr.alias is not None:
        target = mr.alias
        # Queued even when the alias itself is disabled and not printed (QEMU).
        if not any(q is target for q in alias_queue):
            alias_queue.append(target)
        if mr.enabled or show_disabled:
            off = mr.alias_offset
            line = (
                f"{prefix}{INDENT * level}{start:016x}-{end:016x} "
                f"(prio {mr.priority}, {mr.type_word()}): alias {mr.name} @{target.name} "
                f"{off:016x}-{(off + mr.size - 1) & _U64:016x}"
                f"{'' if mr.enabled else ' [disabled]'}"
            )
            out.append(line + (_owner_text(mr) if owner else ""))
    elif mr.enabled or show_disabled:
        line = (
            f"{prefix}{INDENT * level}{start:016x}-{end:016x} "
            f"(prio {mr.priority}, {mr.type_word()}): {mr.name}"
            f"{'' if mr.enabled else ' [disabled]'}"
        )
        out.append(line + (_owner_text(mr) if owner else ""))
    # Children print even under a disabled parent (QEMU only skips the parent's line),
    # sorted by address, then by descending priority, stable otherwise.
    queue: list[MemoryRegion] = []
    for sub in mr.subregions:
        for i, other in enumerate(queue):
            if sub.addr < other.addr or (sub.addr == other.addr and sub.priority > other.priority):
                queue.insert(i, sub)
                break
        else:
            queue.append(sub)
    for sub in queue:
        _print_mr(sub, level + 1, start, alias_queue, owner, show_disabled, out)


def _owner_text(mr: MemoryRegion) -> str:
    # QEMU mtree_print_mr_owner: a device with an id prints ``owner:{dev id=ID}``; a
    # region with neither owner nor QOM parent prints ``orphan``. dmamon regions have no
    # QOM parent, so board regions (RAM, system, containers) are orphans.
    if mr.owner is None:
        return " orphan"
    return f" owner:{{dev id={mr.owner.name}}}"


# -- flat views (QEMU 7.2 mtree_print_flatview) -----------------------------------------


def flatview_root(mr: MemoryRegion | None) -> MemoryRegion | None:
    """The region a flat view is rendered from (QEMU ``memory_region_get_flatview_root``).

    Aliases that show their whole target from offset 0, and containers whose only
    enabled child sits at 0 and fits, are looked through, so address spaces that see
    the same memory share one flat view.

    Args:
        mr: an address space's root region.

    Returns:
        The flat view root, or None when nothing is enabled (QEMU's empty view).
    """
    while mr is not None and mr.enabled:
        if mr.alias is not None:
            if mr.alias_offset == 0 and mr.size >= mr.alias.size:
                mr = mr.alias
                continue
        elif mr.kind is RegionKind.CONTAINER:
            enabled = [c for c in mr.subregions if c.enabled]
            if not enabled:
                return None
            if len(enabled) == 1 and enabled[0].addr == 0 and mr.size >= enabled[0].size:
                mr = enabled[0]
                continue
        return mr
    return None


def _render_flat(spaces: Sequence[AddressSpace], owner: bool) -> list[str]:
    # Address spaces whose roots reduce to one flat view root share a view (QEMU keys
    # its flat_views table by that root; every empty one shares the empty view).
    groups: dict[int, tuple[MemoryRegion | None, list[AddressSpace]]] = {}
    for space in spaces:
        root = flatview_root(space.root)
        key = id(root)
        if key not in groups:
            groups[key] = (root, [])
        groups[key][1].append(space)

    out: list[str] = []
    for n, (root, members) in enumerate(groups.values()):
        out.append(f"FlatView #{n}")
        for space in members:
            name = space.root.name if space.root is not None else "(none)"
            line = f' AS "{space.name}", root: {name}'
            if space.root is not None and space.root.alias is not None:
                line += f", alias {space.root.alias.name}"
            out.append(line)
        out.append(f" Root memory region: {root.name if root is not None else '(none)'}")
        ranges = members[0].flatview.ranges if root is not None else []
        if not ranges:
            out.append(f"{INDENT}No rendered FlatView")
            out.append("")
            continue
        for fr in ranges:
            mr = fr.region
            kind = "rom" if fr.readonly else mr.type_word()
            line = (
                f"{INDENT}{fr.start:016x}-{fr.end - 1:016x} (prio {mr.priority}, {kind}): {mr.name}"
            )
            if fr.offset_in_region:
                line += f" @{fr.offset_in_region:016x}"
            out.append(line + (_owner_text(mr) if owner else ""))
        out.append("")
    return out
