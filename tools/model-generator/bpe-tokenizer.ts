import { byteEncode, bytesToUnicode, GPT2_SPLIT } from './byte-level.js';
import { trainBpe } from './bpe-trainer.js';
import { addedTokens, type JsonObject, type TokenizerArtifacts } from './tokenizer-artifacts.js';

/** First id of an ordinary word in bert-base-uncased (ids below are specials and single chars). */
const FIRST_WORD_ID = 1996;
const SPECIALS = ['<s>', '<pad>', '</s>', '<unk>'] as const;

/**
 * Word frequencies for BPE training, made up from the bert vocabulary: its
 * whole words are roughly in frequency order, so a Zipf weight on the rank
 * gives English-like merges. Each word appears the way the GPT-2 regex sees it
 * mid-sentence ("Ġword"), sentence-initial, and capitalised.
 */
export function trainingWords(bertVocab: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (piece: string, weight: number): void => {
    for (const pre of piece.match(GPT2_SPLIT) ?? []) {
      const word = byteEncode(pre);
      counts.set(word, (counts.get(word) ?? 0) + weight);
    }
  };
  bertVocab.forEach((token, id) => {
    if (token.startsWith('[') || token.startsWith('##')) return;
    const weight = id < FIRST_WORD_ID ? 20 : Math.max(2, Math.round(2e5 / (id - FIRST_WORD_ID + 50)));
    const capital = token.charAt(0).toUpperCase() + token.slice(1);
    add(` ${token}`, 4 * weight);
    add(token, weight);
    if (capital !== token) {
      add(` ${capital}`, weight);
      add(capital, weight);
    }
  });
  return counts;
}

/**
 * roberta-base style byte-level BPE: <s> <pad> </s> <unk>, the 256 byte
 * characters, learned merges, then <mask> last. vocabTarget bounds the total.
 */
export function byteLevelBpeTokenizer(bertVocab: string[], vocabTarget: number, modelMaxLength: number): TokenizerArtifacts {
  const alphabet = bytesToUnicode().map(([, ch]) => ch);
  const { merges, newTokens } = trainBpe(trainingWords(bertVocab), alphabet, vocabTarget - SPECIALS.length - alphabet.length - 1);
  const tokens = [...SPECIALS, ...alphabet, ...newTokens];
  const maskId = tokens.length;
  const tokenizerJson: JsonObject = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens([...SPECIALS.map((content, id) => ({ id, content })), { id: maskId, content: '<mask>', lstrip: true }]),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'RobertaProcessing',
      sep: ['</s>', 2],
      cls: ['<s>', 0],
      trim_offsets: true,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries([...tokens, '<mask>'].map((token, id) => [token, id])),
      // The [left, right] array form (tokenizers >= 0.20); merge parts may contain spaces-as-bytes.
      merges,
    },
  };
  const tokenizerConfig: JsonObject = {
    tokenizer_class: 'RobertaTokenizer',
    add_prefix_space: false,
    trim_offsets: true,
    errors: 'replace',
    model_max_length: modelMaxLength,
    // Off so decode(encode(text)) is exact; HF's cleanup would turn " ," into ",".
    clean_up_tokenization_spaces: false,
    bos_token: '<s>',
    eos_token: '</s>',
    sep_token: '</s>',
    cls_token: '<s>',
    unk_token: '<unk>',
    pad_token: '<pad>',
    mask_token: '<mask>',
  };
  return { tokenizerJson, tokenizerConfig, vocabSize: maskId + 1 };
}
