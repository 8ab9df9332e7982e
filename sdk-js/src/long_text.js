// Long answers: WeChat takes at most 2,048 bytes (UTF-8) of text in one
// reply or customer-service message, and at most five customer-service
// messages per user message (45047 past it). `splitText` cuts a text into
// parts of at most `maxBytes` on sentence ends (。！？.!? and line ends), else
// on spaces, else between characters; the parts joined are the text. The
// same rule as the Rust SDK's `long_text::split`.

export const MAX_TEXT_BYTES = 2048;
export const CUSTOMER_MESSAGES_PER_USER_MESSAGE = 5;

const SENTENCE_ENDS = new Set(["。", "！", "？", ".", "!", "?", "\n"]);
const encoder = new TextEncoder();
const bytes = (s) => encoder.encode(s).length;

export function splitText(text, maxBytes = MAX_TEXT_BYTES) {
  const max = Math.max(maxBytes, 4);
  const parts = [];
  let rest = Array.from(text); // code points: never cut inside one
  let restBytes = bytes(text);
  while (restBytes > max) {
    // The longest head of whole characters that fits.
    let size = 0;
    let fit = 0;
    while (fit < rest.length && size + bytes(rest[fit]) <= max) {
      size += bytes(rest[fit]);
      fit += 1;
    }
    const head = rest.slice(0, fit);
    let cut = lastIndexAfter(head, (c) => SENTENCE_ENDS.has(c));
    if (cut === 0) cut = lastIndexAfter(head, (c) => /\s/u.test(c));
    if (cut === 0) cut = fit;
    const part = rest.slice(0, cut).join("");
    parts.push(part);
    restBytes -= bytes(part);
    rest = rest.slice(cut);
  }
  if (rest.length > 0) parts.push(rest.join(""));
  return parts;
}

function lastIndexAfter(chars, is) {
  for (let i = chars.length - 1; i >= 0; i--) {
    if (is(chars[i])) return i + 1;
  }
  return 0;
}
