/**
 * The ObjectStore contract, run against a directory (LocalObjectStore) and a real s3rver
 * (S3ObjectStore). Prepare / Act / Assess.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import type { ObjectStore } from '../src/storage/object-store.ts';
import { openObjectStore } from '../src/storage/open-object-store.ts';
import { createS3Client, S3ObjectStore } from '../src/storage/s3-object-store.ts';
import { NotFoundError, ValidationError } from '../src/util/errors.ts';
import { type LocalS3, localS3Credentials, startLocalS3 } from './storage-helpers.ts';

interface Fixture {
  readonly store: ObjectStore;
  readonly fresh: (name: string) => ObjectStore;
}

function contract(name: string, setUp: () => Promise<{ fixture: Fixture; tearDown: () => Promise<void> }>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let fixture: Fixture;
    let tearDown: () => Promise<void>;
    beforeAll(async () => {
      ({ fixture, tearDown } = await setUp());
    });
    afterAll(async () => tearDown());

    it('reads back what it wrote, bytes and strings', async () => {
      const bytes = new Uint8Array([0, 1, 2, 255, 128]);
      await fixture.store.put('a/b/bytes.bin', bytes);
      await fixture.store.put('a/b/text.txt', 'héllo');
      expect(await fixture.store.get('a/b/bytes.bin')).toEqual(bytes);
      expect(Buffer.from(await fixture.store.get('a/b/text.txt')).toString('utf8')).toBe('héllo');
    });

    it('overwrites with put and reports absence', async () => {
      await fixture.store.put('over/x', 'one');
      await fixture.store.put('over/x', 'two');
      expect(Buffer.from(await fixture.store.get('over/x')).toString()).toBe('two');
      await expect(fixture.store.get('over/missing')).rejects.toBeInstanceOf(NotFoundError);
      expect(await fixture.store.getIfExists('over/missing')).toBeUndefined();
      expect(await fixture.store.exists('over/x')).toBe(true);
      expect(await fixture.store.exists('over/missing')).toBe(false);
    });

    it('putIfAbsent writes once and never replaces', async () => {
      const first = await fixture.store.putIfAbsent('once/manifest.json', '{"n":1}');
      const second = await fixture.store.putIfAbsent('once/manifest.json', '{"n":2}');
      expect([first, second]).toEqual([true, false]);
      expect(Buffer.from(await fixture.store.get('once/manifest.json')).toString()).toBe('{"n":1}');
    });

    it('lists recursively, sorted, by key prefix, with sizes', async () => {
      const store = fixture.fresh('listing');
      const keys = ['dt=2026-01-02/part-1', 'dt=2026-01-02/part-0', 'dt=2026-01-01/x/deep', 'dt=2026-01-10/p', 'other'];
      for (const key of keys) await store.put(key, key);
      const all = await store.list('');
      const byPrefix = await store.list('dt=2026-01-0');
      const byFolder = await store.list('dt=2026-01-02/');
      expect(all.map((o) => o.key)).toEqual([...keys].sort());
      expect(all.find((o) => o.key === 'other')?.size).toBe(5);
      expect(byPrefix.map((o) => o.key)).toEqual([
        'dt=2026-01-01/x/deep',
        'dt=2026-01-02/part-0',
        'dt=2026-01-02/part-1',
      ]);
      expect(byFolder.map((o) => o.key)).toEqual(['dt=2026-01-02/part-0', 'dt=2026-01-02/part-1']);
      expect(await store.list('nothing/')).toEqual([]);
    });

    it('deletes, and deleting a missing key is not an error', async () => {
      await fixture.store.put('del/x', 'x');
      await fixture.store.delete('del/x');
      await fixture.store.delete('del/never');
      expect(await fixture.store.exists('del/x')).toBe(false);
    });

    it('refuses keys that could escape the root', async () => {
      const bad = ['', '/abs', 'a/../b', '..', 'a//b', './a', 'a/\u0000b', 'a\\b'];
      const results = await Promise.allSettled(bad.map((key) => fixture.store.put(key, 'x')));
      expect(results.map((r) => r.status === 'rejected' && r.reason instanceof ValidationError)).toEqual(
        bad.map(() => true),
      );
    });

    it('racing putIfAbsent calls: exactly one wins', async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, (_, i) => fixture.store.putIfAbsent('race/lock', `writer-${i}`)),
      );
      const body = Buffer.from(await fixture.store.get('race/lock')).toString();
      // The emulated S3 fallback (s3rver ignores If-None-Match) is not atomic; the local store is.
      if (fixture.store instanceof LocalObjectStore) {
        expect(outcomes.filter(Boolean)).toHaveLength(1);
        expect(body).toBe(`writer-${outcomes.indexOf(true)}`);
      } else {
        expect(outcomes.filter(Boolean).length).toBeGreaterThanOrEqual(1);
      }
    });
  });
}

contract('LocalObjectStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pf-objects-'));
  return {
    fixture: { store: new LocalObjectStore(dir), fresh: (name) => new LocalObjectStore(join(dir, 'fresh', name)) },
    tearDown: () => rm(dir, { recursive: true, force: true }),
  };
});

contract('S3ObjectStore on s3rver', async () => {
  const s3: LocalS3 = await startLocalS3();
  const client = createS3Client({ endpoint: s3.endpoint, region: 'us-east-1', credentials: localS3Credentials });
  return {
    fixture: {
      // Small pages so that listing exercises continuation tokens.
      store: new S3ObjectStore({ bucket: s3.bucket, prefix: 'root', client, pageSize: 2 }),
      fresh: (name) => new S3ObjectStore({ bucket: s3.bucket, prefix: `fresh/${name}`, client, pageSize: 2 }),
    },
    tearDown: async () => {
      client.destroy();
      await s3.close();
    },
  };
});

describe('LocalObjectStore specifics', () => {
  it('leaves no temporary files behind after puts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pf-objects-'));
    const store = new LocalObjectStore(dir);
    await Promise.all(Array.from({ length: 5 }, (_, i) => store.put('t/x', `v${i}`)));
    await store.putIfAbsent('t/x', 'late');
    expect(await readdir(join(dir, 't'))).toEqual(['x']);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('openObjectStore', () => {
  it('picks S3 for s3:// and a directory otherwise', () => {
    const s3 = openObjectStore('s3://my-bucket/some/prefix', { s3: { region: 'us-east-1' } });
    const local = openObjectStore('./.pinnerformer-test');
    expect(s3).toBeInstanceOf(S3ObjectStore);
    expect(s3.root).toBe('s3://my-bucket/some/prefix');
    expect(local).toBeInstanceOf(LocalObjectStore);
  });

  it('refuses other schemes and bad buckets', () => {
    expect(() => openObjectStore('gs://bucket/x')).toThrow(ValidationError);
    expect(() => openObjectStore('s3://Bad_Bucket/x')).toThrow(ValidationError);
  });
});
