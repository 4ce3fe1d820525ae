import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dtypesFromFiles, modelInfoFromConfigs } from '../../libs/models/src/model-info.js';
import { InvalidModelError, UnknownModelError, readModelInfo } from '#models';

describe('modelInfoFromConfigs', () => {
  it('reads a BERT embedding model', () => {
    const info = modelInfoFromConfigs('m', { model_type: 'bert', architectures: ['BertModel'], hidden_size: 384, max_position_embeddings: 512 }, { model_max_length: 512 }, [
      'fp32',
    ]);
    expect(info).toEqual({ id: 'm', family: 'bert', tasks: ['embed'], dimensions: 384, labels: null, maxTokens: 512, dtypes: ['fp32'] });
  });
  it('reads a DistilBERT classifier (dim, id2label in index order)', () => {
    const config = {
      model_type: 'distilbert',
      architectures: ['DistilBertForSequenceClassification'],
      dim: 768,
      max_position_embeddings: 512,
      id2label: { 1: 'POSITIVE', 0: 'NEGATIVE' },
    };
    const info = modelInfoFromConfigs('m', config, { model_max_length: 1e30 }, ['q8']);
    expect(info.tasks).toEqual(['sentiment']);
    expect(info.dimensions).toBe(768);
    expect(info.labels).toEqual(['NEGATIVE', 'POSITIVE']);
    expect(info.maxTokens).toBe(512);
  });
  it('subtracts RoBERTa position offset and takes the smaller limit', () => {
    expect(modelInfoFromConfigs('m', { model_type: 'roberta', hidden_size: 8, max_position_embeddings: 514 }, { model_max_length: 512 }, []).maxTokens).toBe(512);
    expect(modelInfoFromConfigs('m', { model_type: 'roberta', hidden_size: 8, max_position_embeddings: 130 }, {}, []).maxTokens).toBe(128);
    expect(modelInfoFromConfigs('m', { model_type: 'bert', hidden_size: 8, max_position_embeddings: 512 }, { model_max_length: 128 }, []).maxTokens).toBe(128);
  });
  it('rejects configs without a hidden size', () => {
    expect(() => modelInfoFromConfigs('m', { model_type: 'x' }, {}, [])).toThrow(InvalidModelError);
  });
  it('maps onnx file names to dtypes', () => {
    expect(dtypesFromFiles(['model.onnx', 'model_quantized.onnx', 'model_fp16.onnx', 'other.onnx'])).toEqual(['fp32', 'fp16', 'q8']);
  });
});

describe('readModelInfo', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'shardwise-info-'));
    mkdirSync(join(root, 'org/clf/onnx'), { recursive: true });
    writeFileSync(
      join(root, 'org/clf/config.json'),
      JSON.stringify({ model_type: 'bert', architectures: ['BertForSequenceClassification'], hidden_size: 32, max_position_embeddings: 128, id2label: { 0: 'neg', 1: 'pos' } }),
    );
    writeFileSync(join(root, 'org/clf/tokenizer_config.json'), JSON.stringify({ model_max_length: 512 }));
    writeFileSync(join(root, 'org/clf/onnx/model_quantized.onnx'), '');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('reads problem_type and the sentence-transformers prompts (default_prompt_name only when it names one)', async () => {
    mkdirSync(join(root, 'org/multi'), { recursive: true });
    const config = {
      model_type: 'bert',
      architectures: ['BertForSequenceClassification'],
      hidden_size: 8,
      id2label: { 0: 'a', 1: 'b' },
      problem_type: 'multi_label_classification',
    };
    writeFileSync(join(root, 'org/multi/config.json'), JSON.stringify(config));
    expect(await readModelInfo('org/multi', { modelDir: root })).toMatchObject({ labels: ['a', 'b'], problemType: 'multi_label_classification' });
    mkdirSync(join(root, 'org/e5'), { recursive: true });
    writeFileSync(join(root, 'org/e5/config.json'), JSON.stringify({ model_type: 'bert', architectures: ['BertModel'], hidden_size: 8 }));
    writeFileSync(
      join(root, 'org/e5/config_sentence_transformers.json'),
      JSON.stringify({ prompts: { query: 'query: ', passage: 'passage: ', bad: 3 }, default_prompt_name: 'query' }),
    );
    expect(await readModelInfo('org/e5', { modelDir: root })).toMatchObject({ prompts: { query: 'query: ', passage: 'passage: ' }, defaultPromptName: 'query' });
    writeFileSync(join(root, 'org/e5/config_sentence_transformers.json'), JSON.stringify({ prompts: { query: 'query: ' }, default_prompt_name: 'missing' }));
    const info = await readModelInfo('org/e5', { modelDir: root });
    expect(info.prompts).toEqual({ query: 'query: ' });
    expect(info.defaultPromptName).toBeUndefined();
    writeFileSync(join(root, 'org/e5/config_sentence_transformers.json'), '{not json');
    await expect(readModelInfo('org/e5', { modelDir: root })).rejects.toThrow();
  });

  it('reads config, tokenizer config and onnx files', async () => {
    expect(await readModelInfo('org/clf', { modelDir: root })).toEqual({
      id: 'org/clf',
      family: 'bert',
      tasks: ['sentiment'],
      dimensions: 32,
      labels: ['neg', 'pos'],
      maxTokens: 128,
      dtypes: ['q8'],
    });
  });
  it('refuses traversal, missing folders and a missing modelDir', async () => {
    await expect(readModelInfo('../x', { modelDir: root })).rejects.toThrow(InvalidModelError);
    await expect(readModelInfo('org/none', { modelDir: root })).rejects.toThrow(UnknownModelError);
    await expect(readModelInfo('org/clf', {})).rejects.toThrow(/pass modelDir/);
  });
});
