"""Test-only: the Python plugin failure modes the host must contain. Text
``throw`` raises an exception, ``loop`` spins forever, ``alloc`` allocates
(and touches) memory without bound, ``count`` answers how many calls this
instance has served (a global: 1 unless instances are reused); anything else
is echoed."""
from wxhost_sdk import Plugin, Reply


SERVED = 0


class PluginBug(Exception):
    pass


class FaultPy(Plugin):
    name = "fault-py"
    version = "0.0.0"
    priority = 100

    def handle_text(self, ctx, msg):
        global SERVED
        SERVED += 1
        cmd = msg.content.strip()
        if cmd == "count":
            return Reply.text(str(SERVED))
        if cmd == "throw":
            raise PluginBug(f"plugin bug: cannot handle {cmd!r}")
        if cmd == "loop":
            n = len(cmd)
            while True:
                n = (n * 6364136223846793005 + 1) & 0xFFFFFFFFFFFFFFFF
        if cmd == "alloc":
            hoard = []
            while True:
                hoard.append(bytearray(b"\x01" * (1 << 20)))
        return Reply.text(msg.content)


Handler = FaultPy
