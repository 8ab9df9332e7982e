"""WeChat server APIs through the host, each behind a capability the operator
grants (``customer-message``, ``user-info``, ``qrcode``). A refused or failed
call raises ``WechatError`` with the host's ``code`` (-2 not granted, -3
transport, else WeChat's errcode), so plugins can degrade instead of failing."""
from typing import Iterable, Optional

from componentize_py_types import Err
from wit_world.imports import chat as chat_api, outbound as outbound_api, types, wechat as api

NOT_GRANTED = -2
TRANSPORT = -3

UserInfo = api.UserInfo
QrCodeRequest = api.QrCodeRequest


class WechatError(Exception):
    def __init__(self, call: str, code: int, message: str):
        super().__init__(f"{call}: {message} (code {code})")
        self.code = code
        self.message = message

    @property
    def not_granted(self) -> bool:
        return self.code == NOT_GRANTED


def _call(name, f, *args):
    try:
        return f(*args)
    except Err as e:
        raise WechatError(name, e.value.code, e.value.message) from None


def send_customer_message(to_user: str, message: api.CustomerMessage) -> None:
    """Capability ``customer-message``; build ``message`` with ``CustomerMessage``."""
    _call("send-customer-message", api.send_customer_message, to_user, message)


def get_user_info(openid: str) -> api.UserInfo:
    """Capability ``user-info``."""
    return _call("get-user-info", api.get_user_info, openid)


def create_qr_code(scene: str, expire_seconds: Optional[int] = None, note: Optional[str] = None) -> types.QrCode:
    """Capability ``qrcode``; ``expire_seconds=None`` makes a permanent code."""
    return _call("create-qr-code", api.create_qr_code, api.QrCodeRequest(scene, expire_seconds, note))


def set_typing(to_user: str, on: bool = True) -> None:
    """WIT 1.1, capability ``customer-message``: the "typing" status in ``to_user``'s chat."""
    _call("set-typing", chat_api.set_typing, to_user, on)


class OutboundError(Exception):
    """The host refused a job (the message names what is wrong)."""


def enqueue(job) -> int:
    """WIT 1.1, capability ``outbound``: queues one job (the admin API's job
    object or its JSON) for the account of the message being handled;
    returns its id."""
    import json

    text = job if isinstance(job, str) else json.dumps(job)
    try:
        return outbound_api.enqueue(text)
    except Err as e:
        raise OutboundError(e.value) from None


def job_status(job_id: int):
    """WIT 1.1: a job of this account's (``id``, ``status``, ``reason``,
    ``attempts``, ``msgid``), or ``None``."""
    try:
        return outbound_api.job_status(job_id)
    except Err as e:
        raise OutboundError(e.value) from None


class CustomerMessage:
    """Builders for the ``customer-message`` variant."""

    @staticmethod
    def text(content: str) -> api.CustomerMessage:
        return api.CustomerMessage_Text(str(content))

    @staticmethod
    def image(media_id: str) -> api.CustomerMessage:
        return api.CustomerMessage_Image(media_id)

    @staticmethod
    def voice(media_id: str) -> api.CustomerMessage:
        return api.CustomerMessage_Voice(media_id)

    @staticmethod
    def video(video: api.CustomerVideo) -> api.CustomerMessage:
        return api.CustomerMessage_Video(video)

    @staticmethod
    def music(music: api.CustomerMusic) -> api.CustomerMessage:
        return api.CustomerMessage_Music(music)

    @staticmethod
    def news(articles: Iterable[types.Article]) -> api.CustomerMessage:
        return api.CustomerMessage_News(list(articles))
