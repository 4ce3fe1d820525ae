/**
 * Token classification post-processing with the semantics of Python transformers'
 * TokenClassificationPipeline (`gather_pre_entities`, `aggregate`, `aggregate_words`,
 * `group_entities`): per-token softmax scores in, entities out.
 */
import { SPECIAL, SUBWORD, tokensToString, type TokenAlignment } from './token-alignment.js';

export const AGGREGATION_STRATEGIES = ['none', 'simple', 'first', 'average', 'max'] as const;
export type AggregationStrategy = (typeof AGGREGATION_STRATEGIES)[number];

/** One entity as the Python pipeline returns it: `entity` and `index` without aggregation, `entity_group` with. */
export interface Entity {
  entity?: string;
  entity_group?: string;
  score: number;
  /** Token position in the model input ([CLS] is 0); aggregation `none` only. */
  index?: number;
  word: string;
  /** Code point offsets into the text, null when the token could not be matched to it. */
  start: number | null;
  end: number | null;
}

interface PreEntity {
  /** Raw token strings the entity is made of (for `word`). */
  tokens: string[];
  scores: ArrayLike<number>;
  start: number | null;
  end: number | null;
  index: number;
  subword: boolean;
}

interface Tagged {
  entity: string;
  score: number;
  tokens: string[];
  start: number | null;
  end: number | null;
  index?: number;
}

/**
 * Entities of one text. `probs` holds the softmax scores of its kept tokens `// [tokens, labels]`
 * (rows past the alignment's tokens are ignored).
 */
export function extractEntities(
  probs: Float32Array,
  labels: readonly string[],
  alignment: TokenAlignment,
  strategy: AggregationStrategy,
  ignoreLabels: readonly string[],
): Entity[] {
  const width = labels.length;
  const pre: PreEntity[] = [];
  alignment.kinds.forEach((kind, index) => {
    if (kind === SPECIAL) return;
    const start = alignment.offsets[2 * index] as number;
    pre.push({
      tokens: [alignment.words[index] as string],
      scores: probs.subarray(index * width, (index + 1) * width),
      start: start === -1 ? null : start,
      end: start === -1 ? null : (alignment.offsets[2 * index + 1] as number),
      index,
      subword: kind === SUBWORD,
    });
  });
  const ignored = new Set(ignoreLabels);
  if (strategy === 'none') {
    return pre
      .map((p) => ({ ...best(p.scores, labels), tokens: p.tokens, start: p.start, end: p.end, index: p.index }))
      .filter((e) => !ignored.has(e.entity))
      .map((e) => ({ entity: e.entity, score: e.score, index: e.index, word: e.tokens[0] as string, start: e.start, end: e.end }));
  }
  const tagged: Tagged[] =
    strategy === 'simple'
      ? pre.map((p) => ({ ...best(p.scores, labels), tokens: p.tokens, start: p.start, end: p.end }))
      : words(pre).map((word) => aggregateWord(word, labels, strategy));
  return groupEntities(tagged, alignment).filter((e) => !ignored.has(e.entity_group as string));
}

function best(scores: ArrayLike<number>, labels: readonly string[]): { entity: string; score: number } {
  let top = 0;
  for (let i = 1; i < labels.length; i++) if ((scores[i] as number) > (scores[top] as number)) top = i;
  return { entity: labels[top] as string, score: scores[top] as number };
}

/** Python's aggregate_words: a word is a token and the subwords after it. */
function words(pre: readonly PreEntity[]): PreEntity[][] {
  const groups: PreEntity[][] = [];
  for (const p of pre) {
    const last = groups[groups.length - 1];
    if (last && p.subword) last.push(p);
    else groups.push([p]);
  }
  return groups;
}

function aggregateWord(word: readonly PreEntity[], labels: readonly string[], strategy: 'first' | 'average' | 'max'): Tagged {
  const first = word[0] as PreEntity;
  const last = word[word.length - 1] as PreEntity;
  let scored: { entity: string; score: number };
  if (strategy === 'first') {
    scored = best(first.scores, labels);
  } else if (strategy === 'max') {
    // The token whose best score is highest; the first one on ties (Python's max()).
    let top = first;
    let topScore = best(first.scores, labels).score;
    for (const p of word.slice(1)) {
      const score = best(p.scores, labels).score;
      if (score > topScore) {
        top = p;
        topScore = score;
      }
    }
    scored = best(top.scores, labels);
  } else {
    const mean = new Float64Array(labels.length);
    for (const p of word) for (let i = 0; i < labels.length; i++) mean[i] = (mean[i] as number) + (p.scores[i] as number) / word.length;
    scored = best(mean, labels);
  }
  return { ...scored, tokens: word.flatMap((p) => p.tokens), start: first.start, end: last.end };
}

/** Python's get_tag: `B-`/`I-` prefixes; anything else (O) counts as an inside tag of its own name. */
function tagOf(entity: string): ['B' | 'I', string] {
  if (entity.startsWith('B-')) return ['B', entity.slice(2)];
  if (entity.startsWith('I-')) return ['I', entity.slice(2)];
  return ['I', entity];
}

/** Python's group_entities: consecutive entities of one tag merge unless the next begins with B-. */
function groupEntities(entities: readonly Tagged[], alignment: TokenAlignment): Entity[] {
  const groups: Tagged[][] = [];
  for (const entity of entities) {
    const open = groups[groups.length - 1];
    const previous = open?.[open.length - 1];
    const [bi, tag] = tagOf(entity.entity);
    if (open && previous && tag === tagOf(previous.entity)[1] && bi !== 'B') open.push(entity);
    else groups.push([entity]);
  }
  return groups.map((group) => {
    const first = group[0] as Tagged;
    const last = group[group.length - 1] as Tagged;
    const score = group.reduce((sum, e) => sum + e.score, 0) / group.length;
    const dash = first.entity.indexOf('-');
    return {
      entity_group: dash === -1 ? first.entity : first.entity.slice(dash + 1),
      score,
      word: tokensToString(
        group.flatMap((e) => e.tokens),
        alignment.tokenText,
      ),
      start: first.start,
      end: last.end,
    };
  });
}
