import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuplicateIdDetector, type DuplicateId, type DuplicateIdDetectorOptions, type IdFingerprint } from '../../apps/api/src/ingest/duplicate-ids.js';

/** Origins are 1-based line numbers, so that they never equal the 0-based position by accident. */
async function* replay(ids: readonly string[]): AsyncGenerator<{ id: string; origin: number }> {
  for (let i = 0; i < ids.length; i++) yield { id: ids[i] as string, origin: i + 1 };
}

async function detect(ids: readonly string[], options: DuplicateIdDetectorOptions = {}): Promise<{ duplicate: DuplicateId | null; rereads: number }> {
  const detector = new DuplicateIdDetector(options);
  try {
    for (const id of ids) {
      const wait = detector.add(id);
      if (wait) await wait;
    }
    let rereads = 0;
    const duplicate = await detector.finish(() => {
      rereads++;
      return replay(ids);
    });
    return { duplicate, rereads };
  } finally {
    await detector.dispose();
  }
}

/** What the Redis HSETNX check reported: the first repeat in input order and its first use. */
function reference(ids: readonly string[]): DuplicateId | null {
  const first = new Map<string, number>();
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as string;
    const firstOrigin = first.get(id);
    if (firstOrigin !== undefined) return { id, origin: i + 1, firstOrigin };
    first.set(id, i + 1);
  }
  return null;
}

/** Fingerprints that collide on purpose: only `buckets` distinct values. */
function coarseFingerprint(buckets: number): IdFingerprint {
  return (id) => {
    let h = 0;
    for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) >>> 0;
    return [h % buckets, 7];
  };
}

function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const range = (n: number, name: (i: number) => string = String): string[] => Array.from({ length: n }, (_, i) => name(i));

describe('DuplicateIdDetector', () => {
  // First, so that RSS growth is not hidden by what later tests leave behind.
  it('1,000,000 distinct ids without a re-read', async () => {
    const n = 1_000_000;
    global.gc?.();
    const before = process.memoryUsage();
    const detector = new DuplicateIdDetector();
    let peakRss = before.rss;
    let peakArrayBuffers = before.arrayBuffers;
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const wait = detector.add(String(i));
      if (wait) {
        await wait;
        const now = process.memoryUsage();
        peakRss = Math.max(peakRss, now.rss);
        peakArrayBuffers = Math.max(peakArrayBuffers, now.arrayBuffers);
      }
    }
    const added = performance.now();
    const after = process.memoryUsage();
    let rereads = 0;
    const duplicate = await detector.finish(() => {
      rereads++;
      return replay([]);
    });
    const finished = performance.now();
    expect(duplicate).toBeNull();
    expect(rereads).toBe(0);
    const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
    console.log(
      `1M distinct ids: add ${(((added - started) * 1e6) / n).toFixed(0)} ns/item (id strings included), finish ${(finished - added).toFixed(0)} ms; ` +
        `peak RSS +${mb(Math.max(peakRss, after.rss) - before.rss)} MiB (the id strings' garbage included), ` +
        `heap +${mb(after.heapUsed - before.heapUsed)} MiB, peak array buffers +${mb(peakArrayBuffers - before.arrayBuffers)} MiB`,
    );
  });

  it('distinct ids: null, and the input is not read again', async () => {
    expect(await detect([])).toEqual({ duplicate: null, rereads: 0 });
    expect(await detect(['only'])).toEqual({ duplicate: null, rereads: 0 });
    expect(await detect(range(20_000))).toEqual({ duplicate: null, rereads: 0 });
  });

  it('finds a duplicate at the start, in the middle and at the end', async () => {
    expect((await detect(['a', 'a', 'b', 'c'])).duplicate).toEqual({ id: 'a', origin: 2, firstOrigin: 1 });
    const middle = range(1000);
    middle[500] = '123';
    expect((await detect(middle)).duplicate).toEqual({ id: '123', origin: 501, firstOrigin: 124 });
    const end = [...range(999), '0'];
    expect(await detect(end)).toEqual({ duplicate: { id: '0', origin: 1000, firstOrigin: 1 }, rereads: 1 });
  });

  it('reports the first repeat in input order, not the first id used twice', async () => {
    // "x" is used first, but "y" repeats first.
    expect((await detect(['x', 'y', 'z', 'y', 'x'])).duplicate).toEqual({ id: 'y', origin: 4, firstOrigin: 2 });
  });

  it('an id used three times reports its second use against the first', async () => {
    expect((await detect(['a', 'b', 'a', 'c', 'a'])).duplicate).toEqual({ id: 'a', origin: 3, firstOrigin: 1 });
  });

  it('ignores fingerprint collisions between distinct ids', async () => {
    const collide: IdFingerprint = (id) => (id === 'p' || id === 'q' ? [1, 2] : [id.length, 3 + id.charCodeAt(0)]);
    expect(await detect(['p', 'q', 'r'], { fingerprint: collide })).toEqual({ duplicate: null, rereads: 1 });
    // A real duplicate after the collision, of the colliding id or of another one.
    expect((await detect(['p', 'q', 'r', 'q'], { fingerprint: collide })).duplicate).toEqual({ id: 'q', origin: 4, firstOrigin: 2 });
    expect((await detect(['p', 'q', 'p'], { fingerprint: collide })).duplicate).toEqual({ id: 'p', origin: 3, firstOrigin: 1 });
    expect((await detect(['p', 'q', 's', 's'], { fingerprint: collide })).duplicate).toEqual({ id: 's', origin: 4, firstOrigin: 3 });
  });

  it('stays exact when every id shares one fingerprint', async () => {
    const same: IdFingerprint = () => [0, 0];
    expect((await detect(range(3000), { fingerprint: same })).duplicate).toBeNull();
    expect((await detect([...range(3000), '1500'], { fingerprint: same })).duplicate).toEqual({ id: '1500', origin: 3001, firstOrigin: 1501 });
  });

  it('matches the exact reference on random inputs with many collisions', async () => {
    const random = seededRandom(42);
    for (let round = 0; round < 60; round++) {
      const size = 1 + Math.floor(random() * 400);
      const alphabet = 1 + Math.floor(random() * 2000);
      const ids = range(size, () => `k${Math.floor(random() * alphabet)}`);
      const expected = reference(ids);
      expect((await detect(ids, { fingerprint: coarseFingerprint(1 + Math.floor(random() * 50)) })).duplicate).toEqual(expected);
      expect((await detect(ids)).duplicate).toEqual(expected);
    }
  });

  it('treats a default-looking id and an explicit one alike', async () => {
    // Line 3 names itself "5"; the item at index 5 has no id, so it defaults to "5".
    const ids = ['0', '1', '5', 'x', '4', '5', '6'];
    expect((await detect(ids)).duplicate).toEqual({ id: '5', origin: 6, firstOrigin: 3 });
    expect((await detect(['05', '5', ' 5', '5.0'])).duplicate).toBeNull();
  });

  it('compares UTF-16 code units: unicode ids, surrogates, normalisation forms', async () => {
    const composed = 'caf\u00e9';
    const decomposed = 'cafe\u0301';
    expect((await detect([composed, decomposed, '日本', '😀', '\ud83d', '\ude00', '😁'])).duplicate).toBeNull();
    expect((await detect(['日本', '😀', 'x', '😀'])).duplicate).toEqual({ id: '😀', origin: 4, firstOrigin: 2 });
    const long = 'é'.repeat(1024);
    expect((await detect([long, `${long.slice(1)}e`, long])).duplicate).toEqual({ id: long, origin: 3, firstOrigin: 1 });
  });

  it('spills past one chunk and still finds a duplicate far back', async () => {
    const ids = range(300_000, (i) => `item-${i}`);
    ids.push('item-17');
    expect(await detect(ids)).toEqual({ duplicate: { id: 'item-17', origin: 300_001, firstOrigin: 18 }, rereads: 1 });
  });

  it('stays exact when collisions overflow the suspect set', async () => {
    // "a<i>" and "b<i>" share fingerprint i: 150,000 collisions before the only real duplicate.
    // The suspect set holds 131,072: two rounds, so two re-reads (one would mean no overflow was tested).
    const pairs: IdFingerprint = (id) => [Number(id.slice(1)), 99];
    const n = 150_000;
    const collisions = [...range(n, (i) => `a${i}`), ...range(n, (i) => `b${i}`)];
    expect(await detect([...collisions, 'b149999', 'a5'], { fingerprint: pairs })).toEqual({
      duplicate: { id: 'b149999', origin: 2 * n + 1, firstOrigin: 2 * n },
      rereads: 2,
    });
    expect(await detect([...collisions, 'a5'], { fingerprint: pairs })).toEqual({ duplicate: { id: 'a5', origin: 2 * n + 1, firstOrigin: 6 }, rereads: 2 });
    expect(await detect(collisions, { fingerprint: pairs })).toEqual({ duplicate: null, rereads: 2 });
  });

  it('asks for the promise of add() to be awaited, and refuses use after finish', async () => {
    const detector = new DuplicateIdDetector();
    let pending = detector.add('0');
    for (let i = 1; !pending; i++) pending = detector.add(String(i));
    expect(() => detector.add('next')).toThrow(/await it/);
    await pending;
    detector.add('next');
    expect(await detector.finish(() => replay([]))).toBeNull();
    expect(() => detector.add('late')).toThrow(/after finish\(\) or dispose\(\)/);
    await detector.dispose();
  });

  it('fails loudly when the re-read replays other items than were added', async () => {
    const fewer = new DuplicateIdDetector({ fingerprint: () => [1, 1] });
    fewer.add('a');
    fewer.add('b');
    await expect(fewer.finish(() => replay(['a']))).rejects.toThrow(/replayed 1 items, but 2 were added/);
    const more = new DuplicateIdDetector({ fingerprint: () => [1, 1] });
    more.add('a');
    more.add('b');
    await expect(more.finish(() => replay(['a', 'b', 'a']))).rejects.toThrow(/more than the 2 items/);
  });

  describe('spill file', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'duplicate-ids-test-'));
    });
    afterEach(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    /** Descriptors this process holds on files in `dir`, deleted ones included (Linux only). */
    function openFilesIn(directory: string): string[] {
      if (!existsSync('/proc/self/fd')) return [];
      const targets = readdirSync('/proc/self/fd').map((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return '';
        }
      });
      return targets.filter((target) => target.startsWith(directory));
    }

    async function fill(detector: DuplicateIdDetector, ids: readonly string[]): Promise<void> {
      for (const id of ids) {
        const wait = detector.add(id);
        if (wait) await wait;
      }
    }

    const hasProc = existsSync('/proc/self/fd');
    const ids = range(200_000, (i) => `id-${i}`);

    it('never leaves a name in the directory, and finish() closes it', async () => {
      const detector = new DuplicateIdDetector({ tmpDir: dir });
      await fill(detector, ids);
      expect(readdirSync(dir)).toEqual([]);
      if (hasProc) expect(openFilesIn(dir)).toHaveLength(1);
      expect(await detector.finish(() => replay(ids))).toBeNull();
      expect(readdirSync(dir)).toEqual([]);
      expect(openFilesIn(dir)).toEqual([]);
      await detector.dispose();
    });

    it('dispose() closes it without finish(), and twice is harmless', async () => {
      const detector = new DuplicateIdDetector({ tmpDir: dir });
      await fill(detector, ids);
      if (hasProc) expect(openFilesIn(dir)).toHaveLength(1);
      await detector.dispose();
      await detector.dispose();
      expect(readdirSync(dir)).toEqual([]);
      expect(openFilesIn(dir)).toEqual([]);
    });

    it('finish() closes it when a duplicate is found', async () => {
      const detector = new DuplicateIdDetector({ tmpDir: dir });
      const withDuplicate = [...ids, 'id-3'];
      await fill(detector, withDuplicate);
      expect(await detector.finish(() => replay(withDuplicate))).toEqual({ id: 'id-3', origin: 200_001, firstOrigin: 4 });
      expect(openFilesIn(dir)).toEqual([]);
      expect(readdirSync(dir)).toEqual([]);
    });

    it('small jobs never create one', async () => {
      const detector = new DuplicateIdDetector({ tmpDir: dir });
      await fill(detector, range(50_000));
      expect(openFilesIn(dir)).toEqual([]);
      await detector.dispose();
    });
  });
});
