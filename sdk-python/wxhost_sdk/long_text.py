"""Long answers: WeChat takes at most 2,048 bytes (UTF-8) of text in one reply
or customer-service message, and at most five customer-service messages per
user message (45047 past it). ``split`` cuts a text into parts of at most
``max_bytes`` on sentence ends (。！？.!? and line ends), else on spaces, else
between characters; the parts joined are the text. The same rule as the Rust
SDK's ``long_text::split``."""

MAX_TEXT_BYTES = 2048
CUSTOMER_MESSAGES_PER_USER_MESSAGE = 5

_SENTENCE_ENDS = frozenset("。！？.!?\n")


def split(text, max_bytes=MAX_TEXT_BYTES):
    """Parts of ``text``, each non-empty and at most ``max_bytes`` bytes."""
    limit = max(max_bytes, 4)
    parts = []
    rest = text
    while len(rest.encode("utf-8")) > limit:
        size, fit = 0, 0
        while fit < len(rest) and size + len(rest[fit].encode("utf-8")) <= limit:
            size += len(rest[fit].encode("utf-8"))
            fit += 1
        head = rest[:fit]
        cut = _last_after(head, lambda c: c in _SENTENCE_ENDS) or _last_after(head, str.isspace) or fit
        parts.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        parts.append(rest)
    return parts


def _last_after(head, matches):
    for i in range(len(head) - 1, -1, -1):
        if matches(head[i]):
            return i + 1
    return 0
