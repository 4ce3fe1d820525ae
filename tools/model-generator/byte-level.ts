/**
 * GPT-2 byte-level alphabet, identical to tokenizers' ByteLevel pre-tokenizer:
 * every byte maps to one printable character, so any UTF-8 text (emoji,
 * accents) round-trips without an unknown token.
 */

/** Byte -> character, in GPT-2's order (printable bytes first, then the rest). */
export function bytesToUnicode(): Array<[number, string]> {
  const printable: number[] = [];
  const push = (from: number, to: number): void => {
    for (let b = from; b <= to; b++) printable.push(b);
  };
  push(0x21, 0x7e); // '!'..'~'
  push(0xa1, 0xac); // '¡'..'¬'
  push(0xae, 0xff); // '®'..'ÿ'
  const pairs: Array<[number, string]> = printable.map((b) => [b, String.fromCharCode(b)]);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    // Bytes that are whitespace/control get moved to 256+ so they stay visible.
    if (!printable.includes(b)) pairs.push([b, String.fromCharCode(256 + shifted++)]);
  }
  return pairs;
}

const BYTE_CHAR = new Map(bytesToUnicode());
const encoder = new TextEncoder();

/** UTF-8 bytes of `text`, each written as its byte-level character. */
export function byteEncode(text: string): string {
  let out = '';
  for (const byte of encoder.encode(text)) out += BYTE_CHAR.get(byte);
  return out;
}

/** The GPT-2 pre-tokenization regex used by ByteLevel with use_regex: true. */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
