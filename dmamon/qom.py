"""The QOM composition tree of the machine, named as QEMU 7.2 names it.

``/machine`` (``pc-q35-7.2-machine``) holds ``peripheral/<id>`` (devices added with an id),
``peripheral-anon/device[N]`` (added without one), ``q35`` (the host bridge, with ``mch`` and
the root bus ``pcie.0``) and ``unattached/device[N]`` (the board's own ICH9 functions, at the
indices QEMU gives them). Only what dmamon models is there: no CPU, fw_cfg, ioapic or memory
region objects.

One implementation for every front end: HMP's ``qom-list``/``qom-get``/``info qom-tree`` and,
later, QMP's ``qom-list``/``qom-get`` call :func:`qom_list`, :func:`qom_get` and
:func:`qom_tree_lines`. Errors are :class:`QomError` with QEMU's wording.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dmamon.devices import Device, Machine, PciDevice

__all__ = ["MACHINE_TYPE", "QomError", "QomValue", "qom_get", "qom_list", "qom_tree_lines"]

MACHINE_TYPE = "pc-q35-7.2-machine"
"""QOM type of dmamon's board, as QEMU 7.2 names ``-M q35``."""

QomValue = str | int | bool
"""A property value as ``qom-get`` returns it (JSON scalar)."""

# QEMU 7.2 -M q35 -nodefaults: the ICH9 functions are /machine/unattached/device[N]
_UNATTACHED_INDEX = {"ICH9-LPC": 2, "ich9-ahci": 15, "ICH9-SMB": 16}
# dmamon property kinds as QOM property types
_KIND_TYPES = {"uint": "uint64", "int": "int64", "bool": "bool", "str": "str"}


class QomError(Exception):
    """A path or property that does not exist; the message is QEMU's."""


@dataclass
class _Node:
    name: str
    type: str
    props: list[tuple[str, str, QomValue]] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)

    def listing(self) -> list[tuple[str, str]]:
        """(name, type) of every property, children as ``child<TYPE>``."""
        out = [("type", "string")]
        out += [(n, t) for n, t, _ in self.props]
        out += [(c.name, f"child<{c.type}>") for c in self.children]
        return out

    def value(self, prop: str, path: str) -> QomValue:
        if prop == "type":
            return self.type
        for n, _, v in self.props:
            if n == prop:
                return v
        for c in self.children:
            if c.name == prop:
                return f"{path.rstrip('/')}/{c.name}"
        raise QomError(f"Property '{self.type}.{prop}' not found")


def _container(name: str, children: list[_Node]) -> _Node:
    return _Node(name, "container", children=children)


def _device_node(name: str, dev: Device, bus_path: str | None) -> _Node:
    props: list[tuple[str, str, QomValue]] = []
    if bus_path is not None:
        props.append(("parent_bus", "link<bus>", bus_path))
    props += [("realized", "bool", True), ("hotpluggable", "bool", True)]
    if isinstance(dev, PciDevice):
        props += [("addr", "int32", dev.devfn), ("multifunction", "bool", False)]
    for p in dev.props:
        v = dev.prop_values[p.name]
        props.append((p.name, _KIND_TYPES.get(p.kind, p.kind), v))
    return _Node(name, dev.type_name, props)


class _Builder:
    """Builds the tree of one machine; remembers each device's path for bus links."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine

    def path_of(self, dev: Device) -> str:
        builtin = _UNATTACHED_INDEX.get(dev.type_name)
        if dev.name == "mch":
            return "/machine/q35/mch"
        if builtin is not None and dev in self.m.builtin:
            return f"/machine/unattached/device[{builtin}]"
        if dev.qdev_id:
            return f"/machine/peripheral/{dev.qdev_id}"
        return f"/machine/peripheral-anon/{dev.name}"  # the machine names it device[N]

    def bus_path(self, dev: Device) -> str | None:
        if not isinstance(dev, PciDevice):
            return "/machine/unattached/sysbus"
        parent = dev.bus.parent
        if parent is None:
            return "/machine/q35/pcie.0"
        return f"{self.path_of(parent)}/{parent.qdev_id or parent.name}"

    def device(self, dev: Device) -> _Node:
        path = self.path_of(dev)
        node = _device_node(path.rsplit("/", 1)[1], dev, self.bus_path(dev))
        sub = getattr(dev, "secondary_bus", None)
        if sub is not None:
            node.children.append(self.bus(dev.qdev_id or dev.name, "PCI", sub.devices.values()))
        return node

    def bus(self, name: str, kind: str, devices: Iterable[PciDevice]) -> _Node:
        ordered = sorted(devices, key=self._plug_order)
        props: list[tuple[str, str, QomValue]] = [
            (f"child[{i}]", f"link<{d.type_name}>", self.path_of(d)) for i, d in enumerate(ordered)
        ]
        props.append(("realized", "bool", True))
        return _Node(name, kind, props)

    def _plug_order(self, dev: PciDevice) -> tuple[int, int]:
        if dev.name == "mch":
            return (0, 0)
        if dev in self.m.builtin:
            return (1, self.m.builtin.index(dev))
        names = list(self.m.devices)
        return (2, names.index(dev.name) if dev.name in names else 0)

    def machine(self) -> _Node:
        m = self.m
        peripheral: list[_Node] = []
        anon: list[_Node] = []
        for dev in m.devices.values():
            (peripheral if dev.qdev_id else anon).append(self.device(dev))
        unattached = [self.device(d) for d in m.builtin if d.type_name in _UNATTACHED_INDEX]
        mch = m.pci_bus.devices.get(0)
        q35_children = [] if mch is None else [self.device(mch)]
        q35_children.append(self.bus("pcie.0", "PCIE", m.pci_bus.devices.values()))
        q35 = _Node("q35", "q35-pcihost", [("realized", "bool", True)], q35_children)
        return _Node(
            "machine",
            MACHINE_TYPE,
            children=[
                _container("peripheral", peripheral),
                _container("peripheral-anon", anon),
                q35,
                _container("unattached", unattached),
            ],
        )


def _root(machine: Machine) -> _Node:
    root = _Node("", "container")
    root.children = [
        _container("chardevs", []),
        _Builder(machine).machine(),
        _container("objects", []),
    ]
    return root


def _walk(prefix: str, node: _Node) -> list[tuple[str, _Node]]:
    out = [(prefix or "/", node)]
    for c in node.children:
        out += _walk(f"{prefix}/{c.name}", c)
    return out


def _resolve(machine: Machine, path: str) -> tuple[str, _Node]:
    """The node at ``path``: absolute, or a unique partial path as QEMU allows (``edu0``).

    Raises:
        QomError: no such object, or a partial path that names more than one.
    """
    nodes = _walk("", _root(machine))
    if path.startswith("/"):
        want = "/" + "/".join(p for p in path.split("/") if p)
        found = [(p, n) for p, n in nodes if p == want]
    else:
        tail = "/" + path.strip("/")
        found = [(p, n) for p, n in nodes if p.endswith(tail)]
    if len(found) != 1:
        raise QomError(f"Device '{path}' not found")
    return found[0]


def qom_list(machine: Machine, path: str) -> list[tuple[str, str]]:
    """QMP/HMP ``qom-list``: (name, type) of each property of the object at ``path``.

    Raises:
        QomError: ``Device 'PATH' not found``.
    """
    return _resolve(machine, path)[1].listing()


def qom_get(machine: Machine, path: str, prop: str) -> QomValue:
    """QMP/HMP ``qom-get``: the value of ``prop`` of the object at ``path`` (links and
    children as paths).

    Raises:
        QomError: ``Device 'PATH' not found`` or ``Property 'TYPE.PROP' not found``.
    """
    where, node = _resolve(machine, path)
    return node.value(prop, where)


def qom_tree_lines(machine: Machine, path: str = "/machine") -> list[str]:
    """HMP ``info qom-tree [PATH]``: the composition tree, children sorted by name.

    Raises:
        QomError: ``Path 'PATH' could not be resolved.``
    """
    try:
        _, node = _resolve(machine, path)
    except QomError:
        raise QomError(f"Path '{path}' could not be resolved.") from None
    out: list[str] = []

    def emit(n: _Node, depth: int) -> None:
        out.append(f"{'  ' * depth}/{n.name} ({n.type})")
        for c in sorted(n.children, key=lambda c: c.name):
            emit(c, depth + 1)

    emit(node, 0)
    return out
