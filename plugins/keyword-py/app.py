"""keyword-py: auto-reply driven by config, the Python twin of plugins/keyword.

``rules = "hello=Hi there!;price=See our menu"``: a text equal to a keyword
(trimmed, case-insensitive) gets its answer and bumps the kv counter
``hits/<keyword>``; other texts pass. With ``followup`` set, a hit also sends
that text as a customer-service message (capability ``customer-message``);
when the operator has not granted it (code -2) or the API fails, the reply
still goes out and the skip is logged.
"""
from wxhost_sdk import CustomerMessage, KvError, Plugin, Reply, WechatError, config, kv, log, wechat


class Keyword(Plugin):
    name = "keyword-py"
    version = "0.1.0"
    priority = 10

    def handle_text(self, ctx, msg):
        text = msg.content.strip().lower()
        for rule in config.get("rules", "").split(";"):
            keyword, sep, answer = rule.partition("=")
            if sep and keyword.strip().lower() == text:
                try:
                    hits = kv.incr(f"hits/{keyword.strip()}")
                except KvError as e:  # e.g. a keyword longer than a kv key may be
                    hits = None
                    log.warn("hit not counted", reason=str(e))
                log.info("keyword matched", keyword=keyword.strip(), hits=hits)
                self.follow_up(ctx.from_user)
                return Reply.text(answer.strip())
        return Reply.pass_()

    @staticmethod
    def follow_up(openid):
        text = config.get("followup")
        if not text:
            return
        try:
            wechat.send_customer_message(openid, CustomerMessage.text(text))
        except WechatError as e:
            log.info("follow-up skipped", code=e.code, reason=e.message)


Handler = Keyword
