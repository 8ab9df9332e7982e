"""{{name}}: a wxhost plugin. It answers a text with the same text."""
from wxhost_sdk import Plugin, Reply


class Handler(Plugin):  # componentize-py exports the class named Handler
    name = "{{name}}"
    version = "0.1.0"

    def handle_text(self, ctx, msg):
        return Reply.text(msg.content)
