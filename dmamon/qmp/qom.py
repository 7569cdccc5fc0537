"""QMP ``qom-list`` and ``qom-get`` over :mod:`dmamon.qom`, the one QOM tree HMP uses too.

Error classes as QEMU 7.2's qmp_qom_list/qmp_qom_get report them: an object that does not
resolve is ``DeviceNotFound``; a missing property is a ``GenericError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmamon.qmp.base import JsonValue, QmpError
from dmamon.qmp.commands import Args, qmp_command
from dmamon.qmp.qapi import Param
from dmamon.qom import QomError, qom_get, qom_list

if TYPE_CHECKING:
    from dmamon.qmp.session import QmpSession

__all__: list[str] = []


def _error(e: QomError) -> QmpError:
    text = str(e)
    return QmpError(text, "DeviceNotFound" if text.startswith("Device '") else "GenericError")


@qmp_command("qom-list", Param("path", "str"))
def _qom_list(s: QmpSession, a: Args) -> JsonValue:
    try:
        props = qom_list(s.machine, str(a["path"]))
    except QomError as e:
        raise _error(e) from None
    return [{"name": n, "type": t} for n, t in props]


@qmp_command("qom-get", Param("path", "str"), Param("property", "str"))
def _qom_get(s: QmpSession, a: Args) -> JsonValue:
    try:
        return qom_get(s.machine, str(a["path"]), str(a["property"]))
    except QomError as e:
        raise _error(e) from None
