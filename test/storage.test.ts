/**
 * The ObjectStore contract, run against a directory (LocalObjectStore) and a real s3rver
 * (S3ObjectStore). Prepare / Act / Assess.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEMP_PREFIX } from '../src/storage/keys.ts';
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

    it('reads byte ranges of an object, and NotFoundError for a missing one', async () => {
      const bytes = Uint8Array.from({ length: 300 }, (_, i) => i % 251);
      await fixture.store.put('range/r.bin', bytes);
      expect(await fixture.store.getRange!('range/r.bin', 10, 20)).toEqual(bytes.slice(10, 20));
      expect(await fixture.store.getRange!('range/r.bin', 290, 300)).toEqual(bytes.slice(290, 300));
      expect(await fixture.store.getRange!('range/r.bin', 0, 300)).toEqual(bytes);
      await expect(fixture.store.getRange!('range/missing', 0, 1)).rejects.toBeInstanceOf(NotFoundError);
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

    it('lists unicode keys in UTF-8 byte order, as S3 does', async () => {
      const store = fixture.fresh('unicode');
      const keys = ['z', 'é', '😀', 'a b', 'Z', '\uff5e'];
      for (const key of keys) await store.put(`u/${key}`, key);
      const listed = (await store.list('u/')).map((o) => o.key.slice(2));
      const byBytes = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(listed).toEqual(byBytes);
      expect(Buffer.from(await store.get('u/😀')).toString()).toBe('😀');
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
        // s3rver ignores If-None-Match, so the store emulates it (check, then put): more than one
        // caller may be told it won. What must hold: the body that stands is a told winner's.
        const standing = Number(/^writer-(\d+)$/.exec(body)?.[1]);
        expect(outcomes[standing]).toBe(true);
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

  it("sweeps dead writers' temporary files and keeps live ones and every object", async () => {
    // Prepare: one object, a temp file of an exited process (deep), one of this process
    const dir = await mkdtemp(join(tmpdir(), 'pf-objects-'));
    const store = new LocalObjectStore(dir);
    await store.put('runs/a/b/obj', 'kept');
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(join(dir, 'runs', 'a', 'b', `${TEMP_PREFIX}${deadPid}-0a1b2c`), 'partial');
    await writeFile(join(dir, 'runs', `${TEMP_PREFIX}${process.pid}-3d4e5f`), 'in flight');
    // Act
    const removed = await store.sweepTemporaryFiles();
    // Assess
    expect(removed).toBe(1);
    expect((await readdir(join(dir, 'runs', 'a', 'b'))).sort()).toEqual(['obj']);
    expect(await readdir(join(dir, 'runs'))).toContain(`${TEMP_PREFIX}${process.pid}-3d4e5f`);
    expect(Buffer.from(await store.get('runs/a/b/obj')).toString()).toBe('kept');
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

describe('S3ObjectStore conditional puts', () => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startLocalS3('cond-bucket');
  });
  afterAll(async () => s3.close());

  /** s3rver ignores If-None-Match: this proxy answers 412 like S3 does when the key exists. */
  function honouringClient(): S3Client {
    const real = createS3Client({ endpoint: s3.endpoint, region: 'us-east-1', credentials: localS3Credentials });
    const send = async (command: unknown): Promise<unknown> => {
      if (command instanceof PutObjectCommand && command.input.IfNoneMatch === '*') {
        const exists = await real
          .send(new HeadObjectCommand({ Bucket: command.input.Bucket, Key: command.input.Key }))
          .then(() => true)
          .catch(() => false);
        if (exists) {
          throw Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
            name: 'PreconditionFailed',
            $metadata: { httpStatusCode: 412 },
          });
        }
      }
      return real.send(command as never);
    };
    return new Proxy(real, {
      get: (target, prop, receiver) => (prop === 'send' ? send : Reflect.get(target, prop, receiver)),
    });
  }

  it('uses If-None-Match natively when the server honours it (probe detects it)', async () => {
    const store = new S3ObjectStore({ bucket: s3.bucket, prefix: 'native', client: honouringClient() });
    const first = await store.putIfAbsent('k', 'one');
    const second = await store.putIfAbsent('k', 'two');
    expect([first, second]).toEqual([true, false]);
    expect(Buffer.from(await store.get('k')).toString()).toBe('one');
    expect((await store.list('')).map((o) => o.key)).toEqual(['k']); // the probe object is gone
  });

  it("falls back to check-then-put when the server ignores the header, and still doesn't overwrite", async () => {
    const client = createS3Client({ endpoint: s3.endpoint, region: 'us-east-1', credentials: localS3Credentials });
    const store = new S3ObjectStore({ bucket: s3.bucket, prefix: 'emulated', client, conditionalPuts: 'emulated' });
    const first = await store.putIfAbsent('k', 'one');
    const second = await store.putIfAbsent('k', 'two');
    client.destroy();
    expect([first, second]).toEqual([true, false]);
  });
});

describe('LocalObjectStore atomic puts', () => {
  it('readers racing writers see a whole old or new object, never a part', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pf-objects-'));
    const store = new LocalObjectStore(dir);
    const bodies = ['a', 'b', 'c'].map((c) => c.repeat(256 * 1024));
    await store.put('big', bodies[0]!);
    const seen = new Set<string>();
    const writers = Promise.all(Array.from({ length: 20 }, (_, i) => store.put('big', bodies[i % 3]!)));
    for (let i = 0; i < 40; i++) seen.add(Buffer.from(await store.get('big')).toString());
    await writers;
    await rm(dir, { recursive: true, force: true });
    expect([...seen].every((body) => bodies.includes(body))).toBe(true);
  });
});
