import { describe, expect, it } from 'vitest';
import {
  classifyTask,
  embedTask,
  tokenClassificationTask,
  isTaskName,
  resolveTask,
  TASK_MODULES,
  TASK_NAMES,
  TASK_NAMES_AND_ALIASES,
  TASKS,
  taskModule,
  UnknownTaskError,
  type TaskModule,
} from '#models';

const INPUTS = ['text', 'text-pair', 'query-documents'];
const OUTPUTS = ['vector', 'label-scores', 'json'];
const MODEL_CLASSES = ['AutoModel', 'AutoModelForSequenceClassification', 'AutoModelForTokenClassification'];
const INFO = { dimensions: 4, maxTokens: 8, labels: ['NEGATIVE', 'POSITIVE'] };
const RESOLVED = { pooling: 'mean', normalize: true, topK: null, truncate: true, aggregationStrategy: 'none', ignoreLabels: ['O'] } as const;

describe('task registry', () => {
  it('keeps the API names: embed and sentiment, with their aliases', () => {
    expect(TASK_NAMES).toEqual(['embed', 'sentiment', 'token-classification']);
    expect(TASK_NAMES_AND_ALIASES).toEqual([
      'embed',
      'embedding',
      'feature-extraction',
      'sentiment',
      'classify',
      'text-classification',
      'sentiment-analysis',
      'token-classification',
      'ner',
    ]);
    expect(TASKS.embed).toBe(embedTask);
    expect(TASKS.sentiment).toBe(classifyTask);
  });

  it.each(TASK_MODULES.map((task) => [task.name, task] as const))('%s is a complete module', (_, task: TaskModule) => {
    expect(task.name).toMatch(/^[a-z][a-z-]*$/);
    expect(Object.isFrozen(task)).toBe(true);
    expect(task.summary.startsWith(task.name)).toBe(true);
    expect(task.defaultModel).toMatch(/^[\w.-]+\/[\w.-]+$/);
    expect(task.defaultModelVariable).toMatch(/^DEFAULT_MODEL_[A-Z_]+$/);
    expect(task.pipelineTask).not.toBe('');
    expect(task.modelHint.startsWith(`${task.name}: `)).toBe(true);
    expect(INPUTS).toContain(task.input);
    expect(OUTPUTS).toContain(task.output);
    expect(MODEL_CLASSES).toContain(task.modelClass);
    for (const [name, option] of Object.entries(task.options)) {
      expect(name).toMatch(/^[a-z][a-z_]*$/);
      expect(option.problem).toContain(`"${name}"`);
      // Absent is always valid: the task's default applies.
      expect(option.body.safeParse(undefined).success).toBe(true);
      expect(option.query.safeParse(undefined).success).toBe(true);
    }
    // Defaults fill every option the task has, from nothing given.
    expect(Object.values(task.withDefaults({})).every((value) => value !== undefined)).toBe(true);
    expect(typeof task.servesArchitectures).toBe('function');
    expect(task.rowWidth(INFO)).toBeGreaterThan(0);
    expect(Object.keys(task.resultFields).length).toBeGreaterThan(0);
    for (const name of ['id', 'index', 'truncated', 'tokens', 'error']) expect(task.resultFields).not.toHaveProperty(name);
  });

  it('has unique names, aliases, option names, default-model variables and OpenAI routes', () => {
    const unique = (values: readonly unknown[]) => expect(new Set(values).size).toBe(values.length);
    unique(TASK_MODULES.flatMap((task) => [task.name, ...task.aliases]));
    unique([...TASK_MODULES.flatMap((task) => Object.keys(task.options)), 'truncate']);
    unique(TASK_MODULES.map((task) => task.defaultModelVariable));
    unique(TASK_MODULES.flatMap((task) => (task.openaiEndpoint === undefined ? [] : [task.openaiEndpoint])));
  });

  it('gives a model architecture to exactly one task', () => {
    for (const architectures of [[], ['BertModel'], ['BertForMaskedLM'], ['DistilBertForSequenceClassification'], ['RobertaForTokenClassification']]) {
      expect(TASK_MODULES.filter((task) => task.servesArchitectures(architectures))).toHaveLength(1);
    }
    expect(classifyTask.servesArchitectures(['RobertaForSequenceClassification'])).toBe(true);
    expect(embedTask.servesArchitectures(['BertModel'])).toBe(true);
    expect(tokenClassificationTask.servesArchitectures(['BertForTokenClassification'])).toBe(true);
  });

  it('resolves names and aliases exactly (after trimming), and lists the valid ones otherwise', () => {
    for (const task of TASK_MODULES) for (const name of [task.name, ...task.aliases, ` ${task.name} `]) expect(resolveTask(name)).toBe(task.name);
    for (const bad of ['Embed', 'sentiments', '', 'feature_extraction']) {
      expect(() => resolveTask(bad)).toThrow(UnknownTaskError);
      expect(() => resolveTask(bad)).toThrow(/embed, embedding, feature-extraction, sentiment, classify/);
    }
    expect(isTaskName('embed')).toBe(true);
    expect(isTaskName('classify')).toBe(false);
    expect(taskModule('sentiment')).toBe(classifyTask);
  });

  it('fills the API defaults of each task', () => {
    expect(embedTask.withDefaults({})).toEqual({ pooling: 'mean', normalize: true });
    expect(embedTask.withDefaults({ pooling: 'cls', normalize: false })).toEqual({ pooling: 'cls', normalize: false });
    expect(classifyTask.withDefaults({})).toEqual({ topK: null });
    expect(classifyTask.withDefaults({ top_k: 2 })).toEqual({ topK: 2 });
    expect(tokenClassificationTask.withDefaults({})).toEqual({ aggregationStrategy: 'none', ignoreLabels: ['O'] });
    expect(tokenClassificationTask.options.ignore_labels.query.parse('O,B-MISC')).toEqual(['O', 'B-MISC']);
    expect(tokenClassificationTask.options.ignore_labels.query.parse('')).toEqual([]);
    expect(tokenClassificationTask.options.aggregation_strategy.body.safeParse('longest').success).toBe(false);
  });

  it('post-processes embed outputs: mean pooling over the real tokens, then L2 normalisation', () => {
    // [batch 1, seq 2, hidden 4]; the second position is padding.
    const hidden = { type: 'float32', dims: [1, 2, 4], data: Float32Array.from([3, 0, 4, 0, 9, 9, 9, 9]) };
    const rows = embedTask.postProcess({ last_hidden_state: hidden }, { info: INFO, batch: 1, seq: 2, lengths: Int32Array.from([1]), options: RESOLVED });
    expect([...rows]).toEqual([0.6, 0, 0.8, 0].map(Math.fround));
    expect(() => embedTask.postProcess({ logits: hidden }, { info: INFO, batch: 1, seq: 2, lengths: Int32Array.from([1]), options: RESOLVED })).toThrow(
      /no \[batch, seq, hidden\]/,
    );
    expect((embedTask as TaskModule).toResult(rows, INFO, RESOLVED)).toEqual({ embedding: rows });
  });

  it('post-processes classifier logits: softmax, then labels ranked and cut to topK', () => {
    const logits = { type: 'float32', dims: [2, 2], data: Float32Array.from([0, Math.log(3), 2, 2]) };
    const rows = classifyTask.postProcess({ logits }, { info: INFO, batch: 2, seq: 3, lengths: Int32Array.from([3, 3]), options: RESOLVED });
    expect(rows[0]).toBeCloseTo(0.25, 6);
    expect(rows[1]).toBeCloseTo(0.75, 6);
    expect(classifyTask.toResult(rows.subarray(0, 2), INFO, { ...RESOLVED, topK: 1 })).toEqual({ label: 'POSITIVE', score: rows[1], scores: { POSITIVE: rows[1] } });
    expect(() => classifyTask.postProcess({ logits: { ...logits, dims: [1, 4] } }, { info: INFO, batch: 1, seq: 1, lengths: Int32Array.from([1]), options: RESOLVED })).toThrow(
      /4 logits but config lists 2 labels/,
    );
  });
});

describe('token-classification post-processing', () => {
  it('softmaxes each kept token and leaves the rest of the [maxTokens, labels] row zero', () => {
    // [batch 2, seq 3, labels 2]; the second text has 2 tokens.
    const logits = { type: 'float32', dims: [2, 3, 2], data: Float32Array.from([0, 0, 0, Math.log(3), 1, 1, 2, 2, Math.log(3), 0, 9, 9]) };
    const rows = tokenClassificationTask.postProcess({ logits }, { info: INFO, batch: 2, seq: 3, lengths: Int32Array.from([3, 2]), options: RESOLVED });
    expect(rows.length).toBe(2 * INFO.maxTokens * 2);
    const width = INFO.maxTokens * 2;
    expect([...rows.subarray(0, 6)].map((p) => Math.round(p * 1000) / 1000)).toEqual([0.5, 0.5, 0.25, 0.75, 0.5, 0.5]);
    expect([...rows.subarray(width, width + 6)].map((p) => Math.round(p * 1000) / 1000)).toEqual([0.5, 0.5, 0.75, 0.25, 0, 0]);
    expect(() =>
      tokenClassificationTask.postProcess({ logits: { ...logits, dims: [2, 6] } }, { info: INFO, batch: 2, seq: 3, lengths: Int32Array.from([3, 2]), options: RESOLVED }),
    ).toThrow(/no \[batch, seq, labels\] logits/);
  });
});
