/**
 * Rolling back withdraws the later days; rolling forward again restores every day the rollback
 * withdrew up to the target, and the CLI says what it withdrew, restored and leaves withdrawn.
 * `versions` shows withdrawn versions in its text output. Real dynalite table in a data dir,
 * the real CLI against it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddingStore, VersionId } from '../src/embeddings/types.ts';
import { openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { makeRecords } from './embeddings-helpers.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'pf-roll-forward-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const day = (date: string): VersionId => ({ modelVersion: 'm1', date });
const D1 = day('2026-10-01');
const D2 = day('2026-10-02');
const D3 = day('2026-10-03');
const D4 = day('2026-10-04');

async function withStore<T>(body: (store: EmbeddingStore) => Promise<T>): Promise<T> {
  const local = await openLocalEmbeddings({ dataDir });
  try {
    return await body(local.store);
  } finally {
    await local.close();
  }
}

async function publishDay(store: EmbeddingStore, version: VersionId, userIds: string[], salt: number): Promise<void> {
  await store.writeEmbeddings(version, makeRecords(userIds, 16, salt));
  await store.recordVersion({ ...version, published: false, embeddedUsers: userIds.length });
  await store.publishVersion(version, (await store.getPointer())?.seq);
}

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('node', ['bin/pinnerformer.js', ...args, '--data', dataDir], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('rollback and roll forward through the CLI', () => {
  it('restores every day the rollback withdrew up to the target, and says what stays withdrawn', async () => {
    // Prepare: four published days; bob acts only on D2, carol only on D4
    await withStore(async (store) => {
      await publishDay(store, D1, ['alice', 'bob'], 1);
      await publishDay(store, D2, ['bob'], 2);
      await publishDay(store, D3, ['alice'], 3);
      await publishDay(store, D4, ['carol'], 4);
    });
    // Act
    const back = cli('rollback', '--to', 'm1@2026-10-01');
    const versions = cli('versions');
    const forward = cli('rollback', '--to', 'm1@2026-10-03');
    const seen = await withStore(async (store) => ({
      bob: (await store.lookup('bob'))?.date,
      carol: await store.lookup('carol'),
      withdrawn: (await store.listVersions()).filter((v) => v.withdrawn).map((v) => v.version),
    }));
    // Assess
    expect(back.status).toBe(0);
    expect(back.stdout).toContain('withdrawn: m1@2026-10-02, m1@2026-10-03, m1@2026-10-04');
    expect(versions.stdout).toMatch(/ {2}m1@2026-10-02 {2}withdrawn \(by a rollback\)/);
    expect(versions.stdout).toMatch(/\* m1@2026-10-01 {2}published/);
    expect(forward.status).toBe(0);
    expect(forward.stdout).toContain('pointer: m1@2026-10-01 -> m1@2026-10-03');
    expect(forward.stdout).toContain('restored: m1@2026-10-02, m1@2026-10-03');
    expect(forward.stdout).toContain('still withdrawn: m1@2026-10-04 (roll forward to them to restore)');
    expect(seen.bob).toBe('2026-10-02'); // D2's embedding counts again under D3
    expect(seen.carol).toBeUndefined();
    expect(seen.withdrawn).toEqual(['m1@2026-10-04']);
  }, 120_000);
});
