/** `pinnerformer recommend` and `pinnerformer serve` through the real CLI, on a daily run's data dir. */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEventDays, readEventDay } from '../src/events/read-events.ts';
import { decodeParquet, encodeParquet } from '../src/io/parquet.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { fixtureModel, fixtureModelVersion, syntheticDataDir } from './pipeline-helpers.ts';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'pinnerformer.js');
const MV = fixtureModelVersion('tiny');
const DATE = '2026-10-02';
const ENV = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
let dataDir: string;
let userId: string;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', [BIN, ...args], { env: ENV });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The user's events up to DATE as the model sees them: its actions, ordered, the last `n`. */
async function expectedRecent(user: string, n: number): Promise<string[]> {
  const store = new LocalObjectStore(dataDir);
  const rows = [];
  for (const day of await listEventDays(store)) {
    if (day > DATE) continue;
    for (const e of (await readEventDay(store, day, { nowMs: Date.UTC(2100, 0, 1) })).valid) {
      if (e.userId === user && e.action !== 'hide') rows.push(e);
    }
  }
  rows.sort((a, b) => a.ts - b.ts || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
  return rows.slice(-n).map((e) => `${e.ts}|${e.itemId}|${e.action}`);
}

/** Cosine of `query` with every item of the model, best first (computed here, independently). */
async function expectedTop(query: number[], k: number): Promise<{ itemId: string; score: number }[]> {
  const table = await decodeParquet(readFileSync(join(fixtureModel('tiny'), 'item_embeddings.parquet')));
  const ids = table.columns.item_id as string[];
  const rows = table.columns.embedding as ArrayLike<number>[];
  const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
  return ids
    .map((itemId, i) => ({
      itemId,
      score: Array.from(rows[i]!).reduce((s, x, d) => s + x * query[d]!, 0) / (norm(rows[i]!) * norm(query)),
    }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

beforeAll(async () => {
  dataDir = await syntheticDataDir(80, 2, '2026-10-01', 6);
  const daily = await cli(['daily', '--date', DATE, '--model', fixtureModel('tiny'), '--data', dataDir, '--json']);
  expect(daily.code, daily.stderr).toBe(0);
  const versions = await cli(['versions', '--json', '--data', dataDir]);
  expect(JSON.parse(versions.stdout).current).toBe(`${MV}@${DATE}`);
  // a user active on DATE with several events
  const store = new LocalObjectStore(dataDir);
  const counts = new Map<string, number>();
  for (const e of (await readEventDay(store, DATE, { nowMs: Date.UTC(2100, 0, 1) })).valid) {
    counts.set(e.userId, (counts.get(e.userId) ?? 0) + 1);
  }
  userId = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
}, 180_000);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('pinnerformer recommend', () => {
  it("prints the user's recent actions and the top items by cosine", async () => {
    // Act
    const json = await cli(['recommend', userId, '--k', '5', '--recent', '4', '--json', '--data', dataDir]);
    const text = await cli(['recommend', userId, '--data', dataDir]);
    const lookup = JSON.parse((await cli(['lookup', userId, '--json', '--data', dataDir])).stdout);
    // Assess
    expect(json.code, json.stderr).toBe(0);
    const r = JSON.parse(json.stdout);
    expect(r).toMatchObject({ userId, version: `${MV}@${DATE}`, modelVersion: MV, date: DATE });
    expect(
      r.recent.map((e: { ts: number; item_id: string; action: string }) => `${e.ts}|${e.item_id}|${e.action}`),
    ).toEqual(await expectedRecent(userId, 4));
    const top = await expectedTop(lookup.embedding, 5);
    expect(r.items.map((i: { itemId: string }) => i.itemId)).toEqual(top.map((i) => i.itemId));
    for (const [i, item] of (r.items as { score: number }[]).entries())
      expect(item.score).toBeCloseTo(top[i]!.score, 5);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/recent actions \(newest last, \d+\)/);
    expect(text.stdout).toContain(r.recent.at(-1).item_id);
    expect(text.stdout).toMatch(/top \d+ items by cosine/);
    expect(text.stdout).toContain(top[0]!.itemId);
  });

  it("--new-only leaves out the items of the user's own sequence, and keeps the cosine order of the rest", async () => {
    // Arrange: a deployed item index that also holds the user's own items, the closest to its embedding
    const lookup = JSON.parse((await cli(['lookup', userId, '--json', '--data', dataDir])).stdout);
    const plain = JSON.parse(
      (await cli(['recommend', userId, '--recent', '1000', '--json', '--data', dataDir])).stdout,
    );
    const own = [...new Set((plain.recent as { item_id: string }[]).map((e) => e.item_id))];
    expect(own.length).toBeGreaterThan(1);
    const tiny = await decodeParquet(readFileSync(join(fixtureModel('tiny'), 'item_embeddings.parquet')));
    const others = tiny.columns.item_id as string[];
    const q = lookup.embedding as number[];
    const vectors = [
      ...own.map((_, i) => q.map((x, d) => x + (d === i ? 0.01 : 0))),
      ...(tiny.columns.embedding as ArrayLike<number>[]),
    ];
    const deployed = new LocalObjectStore(dataDir);
    const key = `models/${MV}/item_embeddings.parquet`;
    const original = await deployed.get(key);
    const dims = q.length;
    await deployed.put(
      key,
      encodeParquet(
        [
          { name: 'item_id', type: 'utf8' },
          { name: 'embedding', type: 'vector', width: dims },
        ],
        { item_id: [...own, ...others], embedding: vectors },
      ),
    );
    try {
      // Act
      const fresh = await cli(['recommend', userId, '--k', '3', '--new-only', '--json', '--data', dataDir]);
      const every = await cli(['recommend', userId, '--k', '3', '--recent', '0', '--json', '--data', dataDir]);
      const text = await cli(['recommend', userId, '--new-only', '--data', dataDir]);
      // Assess: without the flag the user's own items fill the top; with it, the cosine order of the rest
      expect(fresh.code, fresh.stderr).toBe(0);
      const r = JSON.parse(fresh.stdout);
      expect(r.newOnly).toBe(true);
      expect(JSON.parse(every.stdout).items.every((i: { itemId: string }) => own.includes(i.itemId))).toBe(true);
      const expected = (await expectedTop(q, Number.MAX_SAFE_INTEGER)).slice(0, 3);
      expect(r.items.map((i: { itemId: string }) => i.itemId)).toEqual(expected.map((i) => i.itemId));
      expect(text.stdout).toMatch(/none of them the user's own/);
      expect(JSON.parse(every.stdout)).toMatchObject({ newOnly: false, recent: [] }); // --recent 0: none
    } finally {
      await deployed.put(key, original);
    }
  });

  it('refuses a bad --k and an unknown user with a clear error', async () => {
    // Act
    const badK = await cli(['recommend', userId, '--k', 'ten', '--data', dataDir]);
    const unknown = await cli(['recommend', 'nobody-here', '--data', dataDir]);
    // Assess
    expect(badK.code).toBe(2);
    expect(badK.stderr).toMatch(/--k: expected a whole number/);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/NOT_FOUND.*nobody-here/);
  });
});

describe('pinnerformer serve', () => {
  let child: ChildProcessWithoutNullStreams;
  let url: string;
  beforeAll(async () => {
    child = spawn('node', [BIN, 'serve', '--port', '0', '--data', dataDir], { env: ENV });
    url = await new Promise<string>((resolveUrl, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolveUrl(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
    });
  }, 60_000);
  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('answers lookups, batches and recommendations on loopback, and stops on SIGTERM', async () => {
    // Act
    const one = await fetch(`${url}/users/${encodeURIComponent(userId)}`);
    const batch = await fetch(`${url}/users:batch`, {
      method: 'POST',
      body: JSON.stringify({ userIds: [userId, 'nobody-here'] }),
    });
    const recs = await fetch(`${url}/users/${encodeURIComponent(userId)}/recommendations?k=3`);
    const badK = await fetch(`${url}/users/${encodeURIComponent(userId)}/recommendations?k=0`);
    const fresh = await fetch(`${url}/users/${encodeURIComponent(userId)}/recommendations?k=3&new=true`);
    const badNew = await fetch(`${url}/users/${encodeURIComponent(userId)}/recommendations?new=yes`);
    const unknown = await fetch(`${url}/users/nobody-here/recommendations`);
    // Assess
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:/);
    expect(one.status).toBe(200);
    const found = (await one.json()) as { embedding: number[]; version: string };
    expect(found.version).toBe(`${MV}@${DATE}`);
    expect(batch.status).toBe(200);
    expect(await batch.json()).toMatchObject({ missing: ['nobody-here'], results: [{ userId }] });
    expect(recs.status).toBe(200);
    const body = (await recs.json()) as { items: { itemId: string }[]; recent: unknown[] };
    expect(body.items.map((i) => i.itemId)).toEqual((await expectedTop(found.embedding, 3)).map((i) => i.itemId));
    expect(body.recent.length).toBeGreaterThan(0);
    expect(badK.status).toBe(400);
    expect(((await badK.json()) as { error: { message: string } }).error.message).toMatch(/k must be a whole number/);
    expect(unknown.status).toBe(404);
    expect(fresh.status).toBe(200);
    const freshBody = (await fresh.json()) as { items: { itemId: string }[]; newOnly: boolean };
    expect(freshBody.newOnly).toBe(true);
    expect(badNew.status).toBe(400);
    expect(((await badNew.json()) as { error: { message: string } }).error.message).toMatch(
      /new must be true or false/,
    );
    // Act: stop
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    // Assess
    expect(await exited).toBe(0);
  });
});
