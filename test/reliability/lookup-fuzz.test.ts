/**
 * Lookup fuzz (docs/reliability.md): seeded random, oversized, unicode and injection-shaped user
 * ids and versions, malformed request shapes and batches over the limit, against the lookup core
 * (what the Lambda calls) and the loopback HTTP server, both over a real embedded table. The only
 * answers allowed are 200, 400 and 404 (and 405 for a wrong HTTP method on the server): never a
 * 500, never a throw, and a 200 always answers the ids asked for, from the version asked for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalEmbeddings, openLocalEmbeddings } from '../../src/local/local-embeddings.ts';
import { handleLookup, type LookupResponse } from '../../src/lookup/handler.ts';
import { type LookupServer, startLookupServer } from '../../src/lookup/http-server.ts';
import { MAX_BATCH } from '../../src/lookup/request.ts';
import { Rng } from '../../src/synth/rng.ts';
import { recordReliability } from '../../src/testing/reliability-report.ts';

const MODEL = 'fuzz-model';
const DATES = ['2026-10-01', '2026-10-02'];
const CORE_CASES = 1000;
const HTTP_CASES = 300;
const KNOWN = [
  ...Array.from({ length: 40 }, (_, k) => `user-${k}`),
  '用户-七',
  '👩‍👩‍👧‍👦',
  'مستخدم',
  'e\u0301',
  "o'brien",
  'a'.repeat(512),
];

let local: LocalEmbeddings;
let server: LookupServer;
const statusCounts: Record<string, Record<number, number>> = { core: {}, http: {} };
const internalErrors: unknown[] = [];

// ------------------------------------------------------------------------------------ generators

const INJECTION = [
  "' OR '1'='1",
  '"; DROP TABLE embeddings; --',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: an injection-shaped id, on purpose
  '${jndi:ldap://evil/a}',
  '<script>alert(1)</script>',
  '../../../etc/passwd',
  '%00',
  '%2e%2e%2f',
  '#pointer',
  '#version',
  '#lock',
  `u#${MODEL}#user-1`,
  'user-1#',
  '{"$ne": null}',
  '__proto__',
  'constructor',
  '\\u0000',
  '*',
  'user-1\u200b',
];
const ALPHABETS = [
  'abcdefghijklmnopqrstuvwxyz0123456789-_.',
  '用户七八九十ユーザー한국어',
  '👩‍👧🚀🎉🏳️‍🌈',
  'مستخدمשלום',
  '\u0301\u0308\u200d\u200f\ufeff',
  '\u0000\u0001\u001f\u007f\u0085',
  '\ud800\udfff',
];

function randomString(rng: Rng, maxLength: number): string {
  const alphabet = ALPHABETS[rng.int(ALPHABETS.length)]!;
  const length = rng.int(maxLength + 1);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[rng.int(alphabet.length)];
  return out;
}

function randomUserId(rng: Rng): unknown {
  switch (rng.int(10)) {
    case 0:
    case 1:
      return KNOWN[rng.int(KNOWN.length)];
    case 2:
      return INJECTION[rng.int(INJECTION.length)];
    case 3:
      return 'x'.repeat([0, 511, 512, 513, 1024, 1025, 4096, 100_000][rng.int(8)]!);
    case 4:
      return [null, undefined, 42, true, {}, [], ['user-1'], { toString: () => 'user-1' }][rng.int(8)];
    default:
      return randomString(rng, 40);
  }
}

function randomVersion(rng: Rng): unknown {
  switch (rng.int(8)) {
    case 0:
      return undefined;
    case 1:
      return `${MODEL}@${DATES[rng.int(2)]}`;
    case 2:
      return [
        `${MODEL}@2026-02-30`,
        `${MODEL}@2026-10-1`,
        `other-model@2026-10-01`,
        `${MODEL}@2099-01-01`,
        '@',
        'a@b@c',
        `${MODEL}@`,
        `@2026-10-01`,
      ][rng.int(8)];
    case 3:
      return `${INJECTION[rng.int(INJECTION.length)]}@2026-10-01`;
    case 4:
      return 'v'.repeat([100, 101, 5000][rng.int(3)]!);
    case 5:
      return [null, 7, {}, ['a'], true][rng.int(5)];
    default:
      return `${randomString(rng, 12)}@${randomString(rng, 10)}`;
  }
}

function randomRequest(rng: Rng): unknown {
  const version = randomVersion(rng);
  const withVersion = (r: Record<string, unknown>) => (version === undefined ? r : { ...r, version });
  switch (rng.int(10)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return withVersion({ userId: randomUserId(rng) });
    case 4:
    case 5: {
      const size = [0, 1, 2, 50, MAX_BATCH, MAX_BATCH + 1, 1000][rng.int(7)]!;
      return withVersion({ userIds: Array.from({ length: size }, () => randomUserId(rng)) });
    }
    case 6:
      return withVersion({ userId: randomUserId(rng), userIds: [randomUserId(rng)] });
    case 7:
      return [null, undefined, 'user-1', 42, [], [{ userId: 'user-1' }], {}, { userid: 'user-1' }][rng.int(8)];
    case 8: {
      const throwing = {};
      Object.defineProperty(throwing, 'userId', {
        enumerable: true,
        get() {
          throw new Error('getter throws');
        },
      });
      return rng.int(2) === 0 ? throwing : JSON.parse('{"__proto__": {"userId": "user-1"}, "userIds": ["user-2"]}');
    }
    default:
      return withVersion({ userIds: KNOWN.slice(0, 1 + rng.int(KNOWN.length)), extra: randomString(rng, 5) });
  }
}

/** The request as a JSON body; a request JSON cannot hold (a throwing getter) becomes a broken body. */
function jsonOrBroken(request: unknown): string {
  try {
    return JSON.stringify(request ?? null) ?? 'null';
  } catch {
    return '{"userId": ';
  }
}

// ------------------------------------------------------------------------------------ assertions

function count(layer: string, status: number): void {
  statusCounts[layer]![status] = (statusCounts[layer]![status] ?? 0) + 1;
}

/** What every answer must satisfy, whatever was asked. */
function assertAnswer(request: unknown, response: LookupResponse): void {
  expect([200, 400, 404], JSON.stringify(response.body).slice(0, 300)).toContain(response.statusCode);
  if (response.statusCode !== 200) {
    expect((response.body as { error: { code: string } }).error.code).toMatch(/^(VALIDATION|NOT_FOUND)$/);
    return;
  }
  const asked = request as { userId?: string; userIds?: string[]; version?: string };
  const version = asked.version ?? `${MODEL}@${DATES[1]}`;
  if (typeof asked.userId === 'string') {
    const body = response.body as { userId: string; version: string; embedding: number[] };
    expect(body.userId).toBe(asked.userId);
    expect(KNOWN).toContain(asked.userId);
    expect(body.version).toBe(version);
    expect(body.embedding).toHaveLength(8);
  } else {
    const body = response.body as unknown as { results: { userId: string; version: string }[]; missing: string[] };
    const ids = new Set(asked.userIds);
    for (const r of body.results) {
      expect(ids.has(r.userId)).toBe(true);
      expect(KNOWN).toContain(r.userId);
      expect(r.version).toBe(version);
    }
    for (const m of body.missing) expect(KNOWN).not.toContain(m);
    expect(body.results.length + body.missing.length).toBe(ids.size);
  }
}

beforeAll(async () => {
  local = await openLocalEmbeddings({ store: { retry: { maxAttempts: 2 } } });
  for (const [d, date] of DATES.entries()) {
    const version = { modelVersion: MODEL, date };
    await local.store.writeEmbeddings(
      version,
      KNOWN.map((userId, k) => {
        const v = Float32Array.from({ length: 8 }, (_, i) => Math.sin(1 + k * 8 + i + d));
        const n = Math.hypot(...v);
        return { userId, embedding: v.map((x) => x / n) };
      }),
    );
    await local.store.recordVersion({ ...version, published: false });
    await local.store.publishVersion(version, (await local.store.getPointer())?.seq);
  }
  server = await startLookupServer({ store: local.store, pointerCacheMs: 0, onError: (e) => internalErrors.push(e) });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await local?.close();
  const total = (layer: string) => Object.values(statusCounts[layer]!).reduce((a, b) => a + b, 0);
  if (total('core') + total('http') > 0) {
    await recordReliability('lookup-fuzz', [
      {
        id: 'lookup.fuzz-core',
        description:
          'seeded random / oversized / unicode / injection-shaped ids and versions, bad shapes, batches 0..1000, against handleLookup',
        trials: total('core'),
        passed: total('core') - (statusCounts.core![500] ?? 0),
        result: `status counts ${JSON.stringify(statusCounts.core)}; no 500, no throw`,
        figures: Object.fromEntries(Object.entries(statusCounts.core!).map(([s, n]) => [`status${s}`, n])),
      },
      {
        id: 'lookup.fuzz-http',
        description: 'the same over the loopback HTTP server (GET /users/{id}, POST /users:batch with raw bodies)',
        trials: total('http'),
        passed: total('http') - (statusCounts.http![500] ?? 0),
        result: `status counts ${JSON.stringify(statusCounts.http)}; no 500, server alive`,
        figures: Object.fromEntries(Object.entries(statusCounts.http!).map(([s, n]) => [`status${s}`, n])),
      },
    ]);
  }
});

describe('lookup fuzz: only 200, 400 or 404; never a 500, never a crash', () => {
  it(`the lookup core answers ${CORE_CASES} seeded random requests`, async () => {
    const rng = new Rng(20261128);
    for (let i = 0; i < CORE_CASES; i++) {
      const request = randomRequest(rng);
      let response: LookupResponse;
      try {
        response = await handleLookup(local.store, request, {
          pointerCacheMs: 0,
          onError: (e) => internalErrors.push(e),
        });
      } catch (error) {
        throw new Error(`case ${i} threw: ${String(error)}`);
      }
      count('core', response.statusCode);
      assertAnswer(request, response);
    }
    expect(internalErrors).toEqual([]);
    // the fuzz reached every answer kind
    expect(statusCounts.core![200]).toBeGreaterThan(50);
    expect(statusCounts.core![400]).toBeGreaterThan(50);
    expect(statusCounts.core![404]).toBeGreaterThan(50);
  });

  it('key-shaped ids never reach other items', async () => {
    for (const userId of ['#pointer', '#version', '#lock', `u#${MODEL}#user-1`, `${MODEL}@${DATES[0]}`]) {
      const response = await handleLookup(local.store, { userId }, { pointerCacheMs: 0 });
      expect(response.statusCode).toBe(404);
    }
  });

  it(`the HTTP server answers ${HTTP_CASES} seeded random requests and stays up`, async () => {
    const rng = new Rng(7);
    for (let i = 0; i < HTTP_CASES; i++) {
      let response: Response;
      const kind = rng.int(4);
      if (kind === 0) {
        const id = randomUserId(rng);
        const raw = typeof id === 'string' ? id : JSON.stringify(id ?? '');
        // percent-encode most of the time; sometimes send raw or broken escapes
        const path =
          rng.int(3) === 0 ? raw.replace(/[^\w-]/g, '%') : encodeURIComponent(raw.replace(/[\ud800-\udfff]/g, 'x'));
        const version = randomVersion(rng);
        const query =
          typeof version === 'string' ? `?version=${encodeURIComponent(version.replace(/[\ud800-\udfff]/g, 'x'))}` : '';
        response = await fetch(`${server.url}/users/${path}${query}`);
      } else {
        const body =
          kind === 1
            ? jsonOrBroken(randomRequest(rng))
            : kind === 2
              ? randomString(rng, 200)
              : JSON.stringify({ userIds: Array.from({ length: 3000 }, (_, k) => `user-${k}-${'p'.repeat(20)}`) });
        response = await fetch(`${server.url}/users:batch`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json' },
        });
      }
      count('http', response.status);
      expect([200, 400, 404], `case ${i}`).toContain(response.status);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toBeTypeOf('object');
    }
    // wrong methods: 405, by design of the routes
    expect((await fetch(`${server.url}/users/user-1`, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`${server.url}/users:batch`)).status).toBe(405);
    // still serving
    const alive = await fetch(`${server.url}/users/user-1`);
    expect(alive.status).toBe(200);
    expect(internalErrors).toEqual([]);
  });
});
