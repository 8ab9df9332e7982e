"""Reply builders over the generated ``reply`` variant, named like the Rust
SDK's ``Reply::*`` (``pass`` is a Python keyword, hence ``Reply.pass_()``)."""
from typing import Iterable, Optional

from wit_world.imports import types

REPLY_TYPES = (
    types.Reply_Text, types.Reply_Image, types.Reply_Voice, types.Reply_Video,
    types.Reply_Music, types.Reply_News, types.Reply_TransferCustomerService,
    types.Reply_NoReply, types.Reply_Pass,
)


class Reply:
    @staticmethod
    def text(content: str) -> types.Reply:
        """A text reply (at most 2048 bytes, not empty)."""
        return types.Reply_Text(str(content))

    @staticmethod
    def image(media_id: str) -> types.Reply:
        return types.Reply_Image(media_id)

    @staticmethod
    def voice(media_id: str) -> types.Reply:
        return types.Reply_Voice(media_id)

    @staticmethod
    def video(media_id: str, title: Optional[str] = None, description: Optional[str] = None) -> types.Reply:
        return types.Reply_Video(types.VideoReply(media_id, title, description))

    @staticmethod
    def music(thumb_media_id: str, title: Optional[str] = None, description: Optional[str] = None,
              music_url: Optional[str] = None, hq_music_url: Optional[str] = None) -> types.Reply:
        return types.Reply_Music(types.MusicReply(title, description, music_url, hq_music_url, thumb_media_id))

    @staticmethod
    def news(articles: Iterable[types.Article]) -> types.Reply:
        """News: one article in reply to a user's message, up to eight to an event."""
        return types.Reply_News(list(articles))

    @staticmethod
    def transfer_customer_service(kf_account: Optional[str] = None) -> types.Reply:
        return types.Reply_TransferCustomerService(kf_account)

    @staticmethod
    def none() -> types.Reply:
        """Answer ``success``: WeChat shows nothing and no later plugin runs."""
        return types.Reply_NoReply()

    @staticmethod
    def pass_() -> types.Reply:
        """Let the next plugin try."""
        return types.Reply_Pass()


def article(title: str, description: str, pic_url: str, url: str) -> types.Article:
    return types.Article(title, description, pic_url, url)
