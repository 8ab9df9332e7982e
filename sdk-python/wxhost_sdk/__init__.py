"""The Python SDK for wxhost plugins (componentize-py): the ``Plugin`` base
class with the fallback chain, reply builders, log / kv / config / wechat
helpers, and the generated WIT types re-exported. See sdk-python/README.md."""
from wit_world.imports import types
from wit_world.imports.types import (
    Article, ClickEvent, Context, EventMessage, ImageMessage, Kind, LinkMessage, LocationEvent,
    LocationMessage, LocationSelectEvent, MusicReply, PicEvent, PluginInfo, QrCode, ScanEvent,
    ScancodeEvent, SubscribeEvent, SubscribeMsgPopupEvent, SubscribeMsgPopupItem, TextMessage,
    VideoMessage, VideoReply, ViewEvent, VoiceMessage,
)

from . import wechat
from .host import KvError, Level, config, kv, log, web
from .kinds import KINDS
from .plugin import Plugin
from .reply import Reply, article
from .wechat import CustomerMessage, WechatError

__all__ = [
    "Plugin", "Reply", "article", "log", "kv", "config", "web", "wechat", "KvError", "Level",
    "WechatError", "CustomerMessage", "KINDS", "types",
    "Article", "ClickEvent", "Context", "EventMessage", "ImageMessage", "Kind", "LinkMessage",
    "LocationEvent", "LocationMessage", "LocationSelectEvent", "MusicReply", "PicEvent",
    "PluginInfo", "QrCode", "ScanEvent", "ScancodeEvent", "SubscribeEvent", "SubscribeMsgPopupEvent",
    "SubscribeMsgPopupItem", "TextMessage",
    "VideoMessage", "VideoReply", "ViewEvent", "VoiceMessage",
]
