"""``Plugin``: the base class a Python plugin subclasses. It implements the
WIT 1.0 ``handler`` exports (``describe``, ``handle``), so the subclass itself
is what componentize-py exports (``Handler = MyPlugin``); ``handle`` calls the
method for the message's kind (``handle_text``, ...). Handlers not overridden
fall back like the Rust SDK: a specific event → ``handle_event`` →
``handle_unsupported`` → pass; a typed message → ``handle_unsupported`` → pass.
"""
from typing import List, Optional

from wit_world.imports import types

from .kinds import BY_CASE, BY_NAME, EVENT, KINDS, UNSUPPORTED
from .reply import REPLY_TYPES, Reply


def _field(self: types.Context, name: str) -> Optional[str]:
    """The first value of an XML element by exact name (``Content``, ``EventKey``, ...)."""
    for k, v in self.fields:
        if k == name:
            return v
    return None


def _event_message(self: types.Context) -> types.EventMessage:
    """This message as a generic event: ``Event`` and the raw ``EventKey``."""
    return types.EventMessage(self.event or "", self.field("EventKey"))


# The generated Context is a plain dataclass; give it the Rust SDK's helpers.
types.Context.field = _field
types.Context.event_message = _event_message


def _default(k):
    """The handler used when a plugin does not override ``k.method``."""
    if k.fallback == EVENT:
        def forward(self, ctx, *_payload):
            return self.handle_event(ctx, ctx.event_message())
    elif k.fallback == UNSUPPORTED:
        def forward(self, ctx, *_payload):
            return self.handle_unsupported(ctx)
    else:
        def forward(self, ctx, *_payload):
            return Reply.pass_()
    forward.__name__ = k.method
    forward.__doc__ = f"Default for `{k.name}`: falls back to {k.fallback or 'pass'}."
    return forward


def _checked(k, handler):
    """Wraps an author's handler: ``None`` (a forgotten ``return``) passes; any
    other non-reply is a TypeError naming the handler, not a trap in the bindings."""
    def call(self, *args):
        r = handler(self, *args)
        if r is None:
            return Reply.pass_()
        if not isinstance(r, REPLY_TYPES):
            raise TypeError(f"{type(self).__name__}.{k.method} returned {r!r}; return a Reply (Reply.text(..), Reply.pass_(), ...)")
        return r
    call.__name__ = k.method
    call.__doc__ = handler.__doc__
    call._wxhost_handler = True
    return call


class Plugin:
    """Subclass it, set ``name`` / ``version`` (and optionally ``priority`` and
    ``handles``) or override ``describe``, implement handlers, and export it:

        class Echo(Plugin):
            name, version = "echo-py", "0.1.0"
            def handle_text(self, ctx, msg):
                return Reply.text(msg.content)

        Handler = Echo   # the name componentize-py looks for

    Without ``handles``, the plugin handles exactly the kinds it overrides.
    Every call runs in a fresh instance: keep state with ``kv``.
    """

    name: str = ""
    version: str = "0.0.0"
    priority: int = 0
    handles: Optional[List[str]] = None
    _overridden: List[str] = []

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        overridden = list(cls._overridden)
        for k in KINDS:
            h = cls.__dict__.get(k.method)
            if h is not None and not getattr(h, "_wxhost_handler", False):
                setattr(cls, k.method, _checked(k, h))
                overridden.append(k.name)
        cls._overridden = overridden

    def handle(self, ctx: types.Context, msg: types.Message) -> types.Reply:
        """The WIT export: calls the handler for ``msg``'s case."""
        k = BY_CASE.get(type(msg), BY_NAME[UNSUPPORTED])
        method = getattr(self, k.method)
        return method(ctx, msg.value) if k.payload else method(ctx)

    def describe(self) -> types.PluginInfo:
        names = self.handles if self.handles is not None else self._overridden
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            raise ValueError(f"{type(self).__name__}.handles: unknown kinds {unknown} (known: {', '.join(BY_NAME)})")
        return types.PluginInfo(self.name or type(self).__name__, self.version, self.priority,
                                [BY_NAME[n].kind for n in _in_wit_order(names)])


def _in_wit_order(names):
    """``names`` deduplicated, in WIT order."""
    wanted = set(names)
    return [k.name for k in KINDS if k.name in wanted]


for _k in KINDS:
    setattr(Plugin, _k.method, _default(_k))
