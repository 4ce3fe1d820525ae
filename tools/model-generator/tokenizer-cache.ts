import { BERT_SPECIAL_IDS, loadBertVocab } from './bert-vocab.js';
import { byteLevelBpeTokenizer } from './bpe-tokenizer.js';
import type { CalibrationTokens } from './calibrate-head.js';
import { MODEL_MAX_LENGTH, type Family, type Size } from './model-spec.js';
import type { TokenizerArtifacts } from './tokenizer-artifacts.js';
import { wordPieceTokenizer } from './wordpiece-tokenizer.js';

/** Total RoBERTa vocabulary per size: small enough to train in seconds. */
const ROBERTA_VOCAB: Record<Size, number> = { tiny: 4000, minilm: 16000 };

export interface FamilyTokenizer extends TokenizerArtifacts {
  calibration: CalibrationTokens;
}

/**
 * Builds each (family, size) tokenizer once per run: the embed and sentiment
 * models share it, and BPE training is the slowest step of a tiny model.
 */
export class TokenizerCache {
  private bertVocab: Promise<string[]> | null = null;
  private readonly built = new Map<string, Promise<FamilyTokenizer>>();

  get(family: Family, size: Size): Promise<FamilyTokenizer> {
    const key = `${family}:${size}`;
    let hit = this.built.get(key);
    if (!hit) {
      hit = this.build(family, size);
      this.built.set(key, hit);
    }
    return hit;
  }

  private async build(family: Family, size: Size): Promise<FamilyTokenizer> {
    this.bertVocab ??= loadBertVocab();
    const vocab = await this.bertVocab;
    if (family === 'roberta') {
      const artifacts = byteLevelBpeTokenizer(vocab, ROBERTA_VOCAB[size], MODEL_MAX_LENGTH[size]);
      // Learned tokens start after <s> <pad> </s> <unk> and the 256 byte characters; <mask> is last.
      const calibration = { cls: 0, sep: 2, pad: 1, firstWordId: 260, lastWordId: artifacts.vocabSize - 1 };
      return { ...artifacts, calibration };
    }
    const ids = BERT_SPECIAL_IDS;
    // 1996 is "the": ids below it are [unusedN] slots and single characters.
    const calibration = { cls: ids.cls, sep: ids.sep, pad: ids.pad, firstWordId: 1996, lastWordId: vocab.length };
    return { ...wordPieceTokenizer(family, vocab, MODEL_MAX_LENGTH[size]), calibration };
  }
}
