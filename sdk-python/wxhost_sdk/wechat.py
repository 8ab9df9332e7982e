"""WeChat server APIs through the host, each behind a capability the operator
grants (``customer-message``, ``user-info``, ``qrcode``). A refused or failed
call raises ``WechatError`` with the host's ``code`` (-2 not granted, -3
transport, else WeChat's errcode), so plugins can degrade instead of failing."""
from typing import Iterable, Optional

from componentize_py_types import Err
from wit_world.imports import types, wechat as api

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
