// splitText: parts fit, are never empty, and joined are the text; cuts
// prefer sentence ends, then spaces.
import { test } from "node:test";
import assert from "node:assert/strict";
import { splitText, MAX_TEXT_BYTES } from "../src/long_text.js";

const bytes = (s) => new TextEncoder().encode(s).length;

test("parts fit and cover the text", () => {
  const pieces = ["你好", "。", "！", ".", "?", "\n", " ", "word", "😀", "é", "x"];
  let seed = 12345;
  for (const len of [0, 1, 10, 300, 2000]) {
    for (let n = 0; n < 10; n++) {
      let s = "";
      for (let i = 0; i < len; i++) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        s += pieces[seed % pieces.length];
      }
      for (const max of [4, 7, 64, MAX_TEXT_BYTES]) {
        const parts = splitText(s, max);
        assert.equal(parts.join(""), s);
        for (const p of parts) assert.ok(p.length > 0 && bytes(p) <= max, `${max}: ${p}`);
      }
    }
  }
});

test("cuts prefer sentence ends, then spaces, then characters", () => {
  assert.deepEqual(splitText("一二三。四五六七", 12), ["一二三。", "四五六七"]);
  assert.deepEqual(splitText("Hello there. General Kenobi", 20), ["Hello there.", " General Kenobi"]);
  assert.deepEqual(splitText("aaaa bbbb cccc", 11), ["aaaa bbbb ", "cccc"]);
  assert.deepEqual(splitText("长长长长", 7), ["长长", "长长"]);
});
