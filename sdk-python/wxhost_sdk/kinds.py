"""The one list of message kinds (WIT ``kind`` and the cases of ``message``,
in WIT order) and where each falls back when the plugin does not handle it.
The ``Plugin`` base class's dispatch of ``handle``, its default handlers and
its ``handles`` inference are derived from this list, so a new WIT kind is
one line here.

Each entry: (WIT kind, fallback, payload)
  fallback: ``EVENT`` (a specific event → ``handle_event``), ``UNSUPPORTED``
            (→ ``handle_unsupported``) or ``None`` (→ pass);
  payload:  False when the ``message`` case carries nothing (the handler
            takes only ``ctx``).
"""
from dataclasses import dataclass
from typing import Optional

from wit_world.imports import types
from wit_world.imports.types import Kind

EVENT = "event"
UNSUPPORTED = "unsupported"

_LIST = [
    ("text", UNSUPPORTED),
    ("image", UNSUPPORTED),
    ("voice", UNSUPPORTED),
    ("video", UNSUPPORTED),
    ("shortvideo", UNSUPPORTED),
    ("location", UNSUPPORTED),
    ("link", UNSUPPORTED),
    ("event-subscribe", EVENT),
    ("event-unsubscribe", EVENT, False),
    ("event-scan", EVENT),
    ("event-location", EVENT),
    ("event-click", EVENT),
    ("event-view", EVENT),
    ("event-scancode-push", EVENT),
    ("event-scancode-waitmsg", EVENT),
    ("event-pic-sysphoto", EVENT),
    ("event-pic-photo-or-album", EVENT),
    ("event-pic-weixin", EVENT),
    ("event-location-select", EVENT),
    ("event-subscribe-msg-popup", EVENT),
    ("event-subscribe-msg-change", EVENT),
    ("event-subscribe-msg-sent", EVENT),
    ("event-template-send-job-finish", EVENT),
    ("event-mass-send-job-finish", EVENT),
    ("event", UNSUPPORTED),
    ("unsupported", None, False),
]


@dataclass(frozen=True)
class KindInfo:
    name: str
    """The WIT name, e.g. ``event-subscribe``."""
    fallback: Optional[str]
    payload: bool
    kind: Kind
    """The generated enum member, e.g. ``Kind.EVENT_SUBSCRIBE``."""
    method: str
    """The handler method, e.g. ``handle_event_subscribe``."""
    case: type
    """The generated ``message`` case, e.g. ``Message_EventSubscribe``."""


KINDS = [
    KindInfo(
        name=name,
        fallback=rest[0],
        payload=rest[1] if len(rest) > 1 else True,
        kind=Kind[name.upper().replace("-", "_")],
        method="handle_" + name.replace("-", "_"),
        case=getattr(types, "Message_" + "".join(w.capitalize() for w in name.split("-"))),
    )
    for name, *rest in _LIST
]

BY_NAME = {k.name: k for k in KINDS}
BY_CASE = {k.case: k for k in KINDS}
