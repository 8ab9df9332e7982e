"""wxhost_sdk.long_text.split: parts fit, are never empty, and joined are the
text; cuts prefer sentence ends, then spaces."""
import random
import unittest

from wxhost_sdk.long_text import MAX_TEXT_BYTES, split


class Split(unittest.TestCase):
    def test_parts_fit_and_cover_the_text(self):
        pieces = ["你好", "。", "！", ".", "?", "\n", " ", "word", "😀", "é", "x"]
        rng = random.Random(7)
        for length in (0, 1, 10, 300, 2000):
            for _ in range(10):
                text = "".join(rng.choice(pieces) for _ in range(length))
                for limit in (4, 7, 64, MAX_TEXT_BYTES):
                    parts = split(text, limit)
                    self.assertEqual("".join(parts), text)
                    for p in parts:
                        self.assertTrue(p and len(p.encode()) <= limit, (limit, p))

    def test_cuts_prefer_sentence_ends_then_spaces(self):
        self.assertEqual(split("一二三。四五六七", 12), ["一二三。", "四五六七"])
        self.assertEqual(split("Hello there. General Kenobi", 20), ["Hello there.", " General Kenobi"])
        self.assertEqual(split("aaaa bbbb cccc", 11), ["aaaa bbbb ", "cccc"])
        self.assertEqual(split("长长长长", 7), ["长长", "长长"])


if __name__ == "__main__":
    unittest.main()
