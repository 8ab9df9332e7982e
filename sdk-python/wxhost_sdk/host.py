"""Thin wrappers over ``wechat:plugin/host``: structured logs, the plugin's
own key-value store and its configuration. The generated bindings raise
``componentize_py_types.Err`` for a WIT ``result`` error; kv errors are
re-raised as ``KvError`` with the host's message."""
from typing import List, Optional, Union

from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports import web as _web

Level = host.Level


class _Log:
    """``log.info("keyword matched", keyword=k)``: keyword arguments become fields."""

    @staticmethod
    def log(level: host.Level, message: str, **fields: object) -> None:
        host.log(level, str(message), [(k, str(v)) for k, v in fields.items()])

    def trace(self, message: str, **fields: object) -> None:
        self.log(Level.TRACE, message, **fields)

    def debug(self, message: str, **fields: object) -> None:
        self.log(Level.DEBUG, message, **fields)

    def info(self, message: str, **fields: object) -> None:
        self.log(Level.INFO, message, **fields)

    def warn(self, message: str, **fields: object) -> None:
        self.log(Level.WARN, message, **fields)

    def error(self, message: str, **fields: object) -> None:
        self.log(Level.ERROR, message, **fields)


log = _Log()


class KvError(Exception):
    """A kv call that failed: ``reason`` is ``refused`` (a limit, the quota,
    not a counter: the same call fails again) or ``unavailable`` (the store
    failed; for ``get``, whether the key exists is not known)."""

    def __init__(self, message: str, reason: str = "unavailable"):
        super().__init__(message)
        self.reason = reason


def _kv_error(op: str, key: str, e: "Err") -> KvError:
    err = e.value
    if isinstance(err, host.KvError_Refused):
        return KvError(f"kv {op} {key!r}: {err.value}", "refused")
    return KvError(f"kv {op} {key!r}: {getattr(err, 'value', err)}", "unavailable")


class _Kv:
    """The plugin's own persistent key-value store (values up to 64 KiB)."""

    @staticmethod
    def get(key: str) -> Optional[bytes]:
        """The value, None if absent; raises ``KvError`` if the store failed
        (a failure is not absence)."""
        try:
            return host.kv_get(key)
        except Err as e:
            raise _kv_error("get", key, e) from None

    @staticmethod
    def get_string(key: str) -> Optional[str]:
        """The value as UTF-8 text (None if absent or not UTF-8)."""
        v = _Kv.get(key)
        try:
            return None if v is None else v.decode("utf-8")
        except UnicodeDecodeError:
            return None

    @staticmethod
    def set(key: str, value: Union[bytes, str]) -> None:
        try:
            host.kv_set(key, value.encode("utf-8") if isinstance(value, str) else bytes(value))
        except Err as e:
            raise _kv_error("set", key, e) from None

    @staticmethod
    def delete(key: str) -> None:
        try:
            host.kv_delete(key)
        except Err as e:
            raise _kv_error("delete", key, e) from None

    @staticmethod
    def incr(key: str, delta: int = 1) -> int:
        """Adds ``delta`` to a decimal counter (absent = 0) and returns the new
        value; atomic in the host, so concurrent messages never lose a count."""
        try:
            return host.kv_incr(key, delta)
        except Err as e:
            raise _kv_error("incr", key, e) from None


kv = _Kv()


class _Config:
    """The plugin's configuration values (``[plugin.<id>.config]``)."""

    @staticmethod
    def get(key: str, default: Optional[str] = None) -> Optional[str]:
        v = host.config_get(key)
        return default if v is None else v

    @staticmethod
    def keys() -> List[str]:
        return host.config_keys()


config = _Config()


class _Web:
    """For plugins that serve pages."""

    @staticmethod
    def jssdk_config(url: str) -> "_web.JssdkConfig":
        """The ``wx.config`` values for the page at ``url`` (only pages on the
        server's public origin are signed); raises ``ValueError`` with the
        host's message."""
        try:
            return _web.get_jssdk_config(url)
        except Err as e:
            raise ValueError(f"jssdk-config: {e.value}") from None


web = _Web()
