import { describe, expect, it } from 'vitest';
import {
  classifyTask,
  DEFAULT_ENCODE_OPTIONS,
  embedTask,
  rerankTask,
  tokenClassificationTask,
  isTaskName,
  resolveTask,
  TASK_MODULES,
  TASK_NAMES,
  TASK_NAMES_AND_ALIASES,
  TASKS,
  taskModule,
  UnknownTaskError,
  recordedOptions,
  type OptionsHolder,
  type TaskModule,
} from '#models';

const INPUTS = ['text', 'text-pair', 'query-documents'];
const OUTPUTS = ['vector', 'label-scores', 'json'];
const MODEL_CLASSES = ['AutoModel', 'AutoModelForSequenceClassification', 'AutoModelForTokenClassification'];
const INFO = { dimensions: 4, maxTokens: 8, labels: ['NEGATIVE', 'POSITIVE'] };
const RESOLVED = DEFAULT_ENCODE_OPTIONS;

/** What a job record holds of a task's own options (recordedOptions less truncate, which every task has). */
const withDefaults = (task: OptionsHolder, given: Record<string, unknown>): Record<string, unknown> => {
  const { truncate: _, ...own } = recordedOptions(task, given);
  return own;
};

describe('task registry', () => {
  it('keeps the API names: embed, sentiment, token-classification and rerank, with their aliases', () => {
    expect(TASK_NAMES).toEqual(['embed', 'sentiment', 'token-classification', 'rerank']);
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
      'rerank',
      'reranking',
      'cross-encoder',
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
    expect(Object.values(withDefaults(task, {})).every((value) => value !== undefined)).toBe(true);
    expect(typeof task.servesArchitectures).toBe('function');
    expect(task.rowWidth(INFO, RESOLVED)).toBeGreaterThan(0);
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
    // A cross-encoder (one logit) also classifies; rerank takes only those.
    expect(TASK_MODULES.filter((task) => task.servesArchitectures(['BertForSequenceClassification'], ['LABEL_0'])).map((task) => task.name)).toEqual(['sentiment', 'rerank']);
    expect(rerankTask.servesArchitectures(['BertForSequenceClassification'], ['NEGATIVE', 'POSITIVE'])).toBe(false);
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
    expect(withDefaults(embedTask, {})).toEqual({ pooling: 'mean', normalize: true });
    expect(withDefaults(embedTask, { pooling: 'cls', normalize: false })).toEqual({ pooling: 'cls', normalize: false });
    expect(withDefaults(classifyTask, {})).toEqual({ topK: null });
    expect(withDefaults(classifyTask, { top_k: 2 })).toEqual({ topK: 2 });
    expect(withDefaults(tokenClassificationTask, {})).toEqual({ aggregationStrategy: 'none', ignoreLabels: ['O'] });
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

  it('applies the pipeline function: softmax, sigmoid for multi-label and single-logit models, or the asked function_to_apply', () => {
    const logits = { type: 'float32', dims: [1, 2], data: Float32Array.from([0, Math.log(3)]) };
    const post = (info: typeof INFO & { problemType?: string }, functionToApply: 'softmax' | 'sigmoid' | 'none' | null) => [
      ...classifyTask.postProcess({ logits }, { info, batch: 1, seq: 1, lengths: Int32Array.from([1]), options: { ...RESOLVED, functionToApply } }),
    ];
    const softmax = [0.25, 0.75].map(Math.fround);
    const sigmoid = [0.5, 0.75].map(Math.fround);
    expect(post(INFO, null)).toEqual(softmax);
    expect(post({ ...INFO, problemType: 'single_label_classification' }, null)).toEqual(softmax);
    expect(post({ ...INFO, problemType: 'multi_label_classification' }, null)).toEqual(sigmoid);
    expect(post({ ...INFO, problemType: 'multi_label_classification' }, 'softmax')).toEqual(softmax);
    expect(post(INFO, 'sigmoid')).toEqual(sigmoid);
    expect(post(INFO, 'none')).toEqual([0, Math.fround(Math.log(3))]);
    // One logit (a cross-encoder): sigmoid, as Python's pipeline; a softmax would always say 1.
    const one = { type: 'float32', dims: [2, 1], data: Float32Array.from([0, -Math.log(3)]) };
    const scores = classifyTask.postProcess(
      { logits: one },
      { info: { dimensions: 4, maxTokens: 8, labels: ['LABEL_0'] }, batch: 2, seq: 1, lengths: Int32Array.from([1, 1]), options: RESOLVED },
    );
    expect([...scores]).toEqual([0.5, 0.25].map(Math.fround));
  });

  it('validates function_to_apply in bodies and query strings, and writes it into job options only when given', () => {
    const option = classifyTask.options.function_to_apply;
    expect(option.body.safeParse('sigmoid').success).toBe(true);
    expect(option.body.safeParse(null).success).toBe(true);
    expect(option.body.safeParse('relu').success).toBe(false);
    expect(option.query.safeParse('none').success).toBe(true);
    expect(option.problem).toBe('option "function_to_apply" must be one of "softmax", "sigmoid", "none", or null for the model\'s own');
    expect(withDefaults(classifyTask, { function_to_apply: 'none' })).toEqual({ topK: null, functionToApply: 'none' });
    expect(withDefaults(classifyTask, { function_to_apply: null })).toEqual({ topK: null });
  });

  it('cuts embeddings to `dimensions` before normalising them (Matryoshka), and sizes rows by it', () => {
    // [batch 1, seq 1, hidden 4]: the first two values are (3, 4), whose norm is 5.
    const hidden = { type: 'float32', dims: [1, 1, 4], data: Float32Array.from([3, 4, 12, 0]) };
    const batch = (options: Partial<typeof RESOLVED> | { dimensions: number; normalize?: boolean }) => ({
      info: INFO,
      batch: 1,
      seq: 1,
      lengths: Int32Array.from([1]),
      options: { ...RESOLVED, ...options },
    });
    expect([...embedTask.postProcess({ last_hidden_state: hidden }, batch({ dimensions: 2 }))]).toEqual([0.6, 0.8].map(Math.fround));
    expect([...embedTask.postProcess({ last_hidden_state: hidden }, batch({ dimensions: 2, normalize: false }))]).toEqual([3, 4]);
    expect([...embedTask.postProcess({ last_hidden_state: hidden }, batch({ dimensions: 4 }))]).toEqual([3 / 13, 4 / 13, 12 / 13, 0].map(Math.fround));
    expect(embedTask.rowWidth(INFO, { ...RESOLVED, dimensions: 2 })).toBe(2);
    expect(embedTask.rowWidth(INFO, RESOLVED)).toBe(4);
    expect(withDefaults(embedTask, { dimensions: 2, prompt_name: 'query' })).toEqual({ pooling: 'mean', normalize: true, dimensions: 2, promptName: 'query' });
  });

  it('checks embed options against the model: dimensions up to its width, a known prompt_name, not prompt and prompt_name together', () => {
    const info = { ...INFO, prompts: { query: 'query: ', passage: 'passage: ' }, defaultPromptName: 'passage' };
    expect(embedTask.optionsProblem(info, { dimensions: 4, promptName: 'query' })).toBeUndefined();
    expect(embedTask.optionsProblem(info, { dimensions: 5 })).toEqual({
      option: 'dimensions',
      message: 'option "dimensions" is 5, but the model\'s embeddings have 4 values; ask for at most 4',
    });
    expect(embedTask.optionsProblem(info, { promptName: 'doc' })).toEqual({ option: 'prompt_name', message: 'unknown prompt_name "doc"; the model has "query", "passage"' });
    expect(embedTask.optionsProblem(INFO, { promptName: 'query' })?.message).toMatch(/the model has none \(no prompts in its config_sentence_transformers.json\)/);
    // Without the model (a Hub model at the API) only what needs no model is checked.
    expect(embedTask.optionsProblem(null, { dimensions: 5000, promptName: 'x' })).toBeUndefined();
    expect(embedTask.optionsProblem(null, { prompt: 'q: ', promptName: 'query' })).toEqual({ option: 'prompt_name', message: 'give "prompt" or "prompt_name", not both' });
    // sentence-transformers: prompt, else prompt_name, else default_prompt_name.
    const prefix = (options: Partial<typeof RESOLVED> | { prompt?: string; promptName?: string }) => embedTask.textPrefix(info, { ...RESOLVED, ...options });
    expect(prefix({})).toBe('passage: ');
    expect(prefix({ promptName: 'query' })).toBe('query: ');
    expect(prefix({ prompt: '' })).toBe('');
    expect(embedTask.textPrefix(INFO, RESOLVED)).toBe('');
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
