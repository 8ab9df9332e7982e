"""echo-py: answers a text with the same text — the Python twin of
plugins/echo (and what bench/load.sh measures for Python)."""
from wxhost_sdk import Plugin, Reply


class Echo(Plugin):
    name = "echo-py"
    version = "0.1.0"
    handles = ["text"]

    def handle_text(self, ctx, msg):
        return Reply.text(msg.content)


Handler = Echo
