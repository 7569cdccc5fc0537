"""A QMP server over a :class:`~dmamon.devices.machine.Machine`, byte-compatible with QEMU 7.2.

The QEMU Machine Protocol as QEMU 7.2 speaks it (``docs/interop/qmp-spec.txt``), so the
unmodified ``qemu.qmp`` client, ``qmp-shell`` and scripts written for QEMU drive dmamon:

* **Framing.** Input is a stream of JSON values with no delimiter; output is one compact
  JSON object per line ending in ``\\r\\n``. The input side is QEMU's own JSON dialect
  (``qobject/json-lexer.c``, ``json-streamer.c``, ``json-parser.c``): single-quoted strings,
  the same lexical recovery after a stray byte and the same ``JSON parse error, ...``
  messages. The output side writes objects in QEMU's ``QDict`` iteration order (a hash of
  the key, ``qobject/qdict.c``) and escapes strings as ``qobject/json-writer.c`` does, so a
  reply is byte for byte what QEMU 7.2 sends.
* **Session.** Greeting, ``qmp_capabilities`` negotiation (before it every other command is
  ``CommandNotFound`` and no event is sent), ids echoed, ``error`` objects with QEMU's
  classes and ``desc`` strings, argument checking as QEMU's QAPI input visitor does it
  (which member is reported when several are wrong included).
* **Events** with QEMU's layout, stamped with *virtual* time so a session replays
  identically, and queued before the reply of the command that caused them.

Module layout: the JSON codec (:class:`JsonStreamParser`, :func:`encode_json`), argument

Package layout: :mod:`~dmamon.qmp.json_lexer` and :mod:`~dmamon.qmp.json_parser` (QEMU's
JSON dialect in), :mod:`~dmamon.qmp.json_writer` and :mod:`~dmamon.qmp.ghash` (QEMU's byte
layout and member order out), :mod:`~dmamon.qmp.qapi` (argument checking),
:mod:`~dmamon.qmp.commands` (the ``@qmp_command`` registry; ``query-pci`` is in
:mod:`~dmamon.qmp.pci`), :mod:`~dmamon.qmp.events` (the event bus and the
``@payload_converter`` registry), :mod:`~dmamon.qmp.session` (:class:`QmpSession`, the
protocol, no sockets: ``feed(bytes) -> bytes``) and :mod:`~dmamon.qmp.server`
(:class:`QmpServer` / :func:`serve_qmp`).

Events and the machine's event bus
----------------------------------
A session subscribes to the machine's :class:`~dmamon.memory.EventBus`
(``machine.engine.events``). The machine publishes
:class:`~dmamon.memory.RunStateChanged`, :class:`~dmamon.memory.ResetEvent` and
:class:`~dmamon.memory.ShutdownEvent` from its run-state methods; the session turns them
into ``STOP``/``RESUME``/``RESET`` once the command that caused them finishes (so ``cont``
typed through ``human-monitor-command`` or a guest reset through port 0xcf9 produce them
too) and into ``SHUTDOWN``. A modelled crash or hang (:class:`~dmamon.memory.MachineHalted`)
becomes ``DMAMON_MACHINE_HALT`` (plus ``STOP`` when the machine was running).

Any other bus event reaches QMP when its class has a converter in the
``@payload_converter`` registry (:class:`~dmamon.memory.IommuFaulted` becomes
``DMAMON_IOMMU_FAULT``); a publisher without a class of its own calls
``engine.events.publish(name, payload)`` (or :func:`publish_event`) with a dict of JSON
values, an :class:`~dmamon.memory.IOMMUFault`, a :class:`~dmamon.memory.MachineHalt` or
None, and the session sends ``{"event": name, "data": {...}}``.
"""

from dmamon.qmp import pci as _pci  # noqa: F401 - registers query-pci
from dmamon.qmp import qom as _qom  # noqa: F401 - registers qom-list, qom-get
from dmamon.qmp.base import QEMU_VERSION, QmpError
from dmamon.qmp.commands import COMMANDS, QmpCommand, qmp_command
from dmamon.qmp.events import payload_converter, publish_event
from dmamon.qmp.json_lexer import JsonStreamParser, ParsedMessage
from dmamon.qmp.json_writer import encode_json
from dmamon.qmp.qapi import Param
from dmamon.qmp.server import QmpServer, serve_qmp
from dmamon.qmp.session import QmpSession

__all__ = [
    "COMMANDS",
    "QEMU_VERSION",
    "JsonStreamParser",
    "Param",
    "ParsedMessage",
    "QmpCommand",
    "QmpError",
    "QmpServer",
    "QmpSession",
    "encode_json",
    "payload_converter",
    "publish_event",
    "qmp_command",
    "serve_qmp",
]
