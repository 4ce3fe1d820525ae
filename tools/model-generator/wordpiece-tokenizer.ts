import { BERT_SPECIAL_IDS } from './bert-vocab.js';
import type { Family } from './model-spec.js';
import { addedTokens, type JsonObject, type JsonValue, type TokenizerArtifacts } from './tokenizer-artifacts.js';

const special = (token: string, typeId: number): JsonValue => ({ SpecialToken: { id: token, type_id: typeId } });
const sequence = (id: 'A' | 'B', typeId: number): JsonValue => ({ Sequence: { id, type_id: typeId } });

/**
 * bert-base-uncased's tokenizer.json, rebuilt around the given vocabulary:
 * BertNormalizer (lowercase, accents stripped because strip_accents is null)
 * -> BertPreTokenizer -> WordPiece, with [CLS] A [SEP] (B [SEP]) templates.
 */
export function wordPieceTokenizer(family: Family, vocab: string[], modelMaxLength: number): TokenizerArtifacts {
  const ids = BERT_SPECIAL_IDS;
  const tokenizerJson: JsonObject = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens([
      { id: ids.pad, content: '[PAD]' },
      { id: ids.unk, content: '[UNK]' },
      { id: ids.cls, content: '[CLS]' },
      { id: ids.sep, content: '[SEP]' },
      { id: ids.mask, content: '[MASK]' },
    ]),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('[CLS]', 0), sequence('A', 0), special('[SEP]', 0)],
      pair: [special('[CLS]', 0), sequence('A', 0), special('[SEP]', 0), sequence('B', 1), special('[SEP]', 1)],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [ids.cls], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [ids.sep], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((token, id) => [token, id])),
    },
  };
  const tokenizerConfig: JsonObject = {
    tokenizer_class: family === 'distilbert' ? 'DistilBertTokenizer' : 'BertTokenizer',
    do_lower_case: true,
    strip_accents: null,
    tokenize_chinese_chars: true,
    model_max_length: modelMaxLength,
    clean_up_tokenization_spaces: true,
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    mask_token: '[MASK]',
  };
  return { tokenizerJson, tokenizerConfig, vocabSize: vocab.length };
}
