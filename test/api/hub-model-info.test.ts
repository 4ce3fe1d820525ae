/** The API's knowledge of Hub models: read from a fake Hub, shared by concurrent submits, kept for a while, and null (not an error) when the endpoint fails. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ApiEnv } from '../../apps/api/src/config/api-env.js';
import { HubModelInfoRepository } from '../../apps/api/src/models/hub-model-info.repository.js';
import { InvalidModelError } from '#models';
import { ensureTinyModels, modelId } from '../models/fixtures.js';
import { startFakeHub, type FakeHub } from '../support/fake-hub.js';

const EMBED = modelId('roberta', 'embed');
let hub: FakeHub;
const repository = (): HubModelInfoRepository => new HubModelInfoRepository({ HF_ENDPOINT: hub.url } as ApiEnv);

beforeAll(async () => {
  hub = await startFakeHub(await ensureTinyModels(['embed']));
}, 180_000);

afterAll(() => hub?.close());

afterEach(() => {
  hub.failWhen(null);
  hub.requests.length = 0;
});

describe('HubModelInfoRepository', () => {
  it('reads each config once for concurrent and later calls', async () => {
    const hubModels = repository();
    const infos = await Promise.all(Array.from({ length: 5 }, () => hubModels.info(EMBED)));
    expect(new Set(infos).size).toBe(1);
    expect(infos[0]).toMatchObject({ id: EMBED, family: 'roberta', tasks: ['embed'], dimensions: 32, prompts: { query: 'query: ', passage: 'passage: ' } });
    await hubModels.info(EMBED);
    expect(hub.requests.map((r) => r.file).sort()).toEqual(['config.json', 'config_sentence_transformers.json', 'tokenizer_config.json']);
  });

  it('answers null while the endpoint fails or refuses, without asking again at every call', async () => {
    const hubModels = repository();
    hub.failWhen(() => 401);
    expect(await hubModels.info(EMBED)).toBeNull();
    hub.failWhen(null);
    // Remembered for a minute: the endpoint is not asked again yet.
    expect(await hubModels.info(EMBED)).toBeNull();
    expect(hub.requests.filter((r) => r.file === 'config.json')).toHaveLength(1);
    expect(await hubModels.info('hub-test/no-such-model')).toBeNull();
  });

  it('refuses a model whose config says it cannot be used', async () => {
    hub.alias('hub-test/no-width', EMBED);
    hub.setFile('hub-test/no-width', 'config.json', JSON.stringify({ model_type: 'roberta' }));
    await expect(repository().info('hub-test/no-width')).rejects.toThrow(InvalidModelError);
  });
});
