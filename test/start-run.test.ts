/** startRun, the one start of a run on AWS and locally, against an in-memory dynalite table. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalEmbeddings, openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { abandonedLocalLock, localLockOwner } from '../src/pipeline/local-run-lock.ts';
import { startRun } from '../src/pipeline/start-run.ts';
import { ConflictError, NotFoundError } from '../src/util/errors.ts';

const MODEL_A = 'pf-model-a';
const MODEL_B = 'pf-model-b';
const D1 = '2026-10-01';
const D2 = '2026-10-02';
const LEASE = 60_000;

let local: LocalEmbeddings;

beforeAll(async () => {
  local = await openLocalEmbeddings({});
});

afterAll(async () => {
  await local?.close();
});

async function publishDay(modelVersion: string, date: string): Promise<void> {
  const store = local.store;
  await store.recordVersion({ modelVersion, date, published: false, embeddedUsers: 1 });
  await store.publishVersion({ modelVersion, date }, (await store.getPointer())?.seq);
}

describe('startRun', () => {
  it('refuses a run without a model while nothing is published', async () => {
    // Act / Assess
    await expect(
      startRun(
        { versions: local.store, locks: local.store },
        { request: { date: D1 }, owner: 'exec-0', leaseMs: LEASE },
      ),
    ).rejects.toThrow(NotFoundError);
  });

  it("forces a backfill on a model's first run and takes the run lock for its owner", async () => {
    // Act
    const started = await startRun(
      { versions: local.store, locks: local.store },
      {
        request: { date: D1, modelVersion: MODEL_A },
        owner: 'exec-1',
        leaseMs: LEASE,
      },
    );
    // Assess: nothing published yet, so everyone is embedded; a second owner is stopped
    expect(started).toEqual({
      date: D1,
      modelVersion: MODEL_A,
      backfill: true,
      modelChanged: false,
      version: `${MODEL_A}@${D1}`,
    });
    expect((await local.store.getRunLock(started.version))?.owner).toBe('exec-1');
    await expect(
      startRun(
        { versions: local.store, locks: local.store },
        { request: { date: D1, modelVersion: MODEL_A }, owner: 'exec-2', leaseMs: LEASE },
      ),
    ).rejects.toThrow(ConflictError);
    // the same owner retrying takes its own lock again
    await expect(
      startRun(
        { versions: local.store, locks: local.store },
        { request: { date: D1, modelVersion: MODEL_A }, owner: 'exec-1', leaseMs: LEASE },
      ),
    ).resolves.toMatchObject({ version: `${MODEL_A}@${D1}` });
  });

  it("defaults to the pointer's model and date of the request, and backfills only when asked or the model changes", async () => {
    // Prepare: model A published on D1, its run ended (the lock released, as the state machine does)
    await publishDay(MODEL_A, D1);
    expect(await local.store.releaseRunLock(`${MODEL_A}@${D1}`, 'exec-1')).toBe(true);
    // Act: a scheduled start (the day before the fire time), a marker, a requested backfill, another model
    const scheduled = await startRun(
      { versions: local.store, locks: local.store },
      {
        request: { scheduledTime: `${D2}T03:00:00Z` },
        owner: 'exec-3',
        leaseMs: LEASE,
      },
    );
    const marker = await startRun(
      { versions: local.store, locks: local.store },
      {
        request: { markerKey: `events/dt=${D2}/_SUCCESS` },
        owner: 'exec-4',
        leaseMs: LEASE,
      },
    );
    const asked = await startRun(
      { versions: local.store, locks: local.store },
      {
        request: { date: '2026-10-03', backfill: true },
        owner: 'exec-5',
        leaseMs: LEASE,
      },
    );
    const switched = await startRun(
      { versions: local.store, locks: local.store },
      {
        request: { date: D2, modelVersion: MODEL_B },
        owner: 'exec-6',
        leaseMs: LEASE,
      },
    );
    // Assess
    expect(scheduled).toMatchObject({ date: D1, modelVersion: MODEL_A, backfill: false, modelChanged: false });
    expect(marker).toMatchObject({ date: D2, modelVersion: MODEL_A, backfill: false, modelChanged: false });
    expect(asked).toMatchObject({ date: '2026-10-03', modelVersion: MODEL_A, backfill: true, modelChanged: false });
    expect(switched).toMatchObject({ date: D2, modelVersion: MODEL_B, backfill: true, modelChanged: true });
  });

  it("takes over a lock only when the caller calls its holder abandoned (a dead local run's)", async () => {
    // Prepare: a lock held by a local process on this host that no longer runs
    const version = `${MODEL_A}@2026-10-05`;
    const dead = localLockOwner().replace(`-${process.pid}-`, '-999999999-');
    await local.store.acquireRunLock(version, dead, LEASE);
    const live = localLockOwner();
    // Act / Assess: without the predicate the lease holds; with it the lock changes hands
    await expect(
      startRun(
        { versions: local.store, locks: local.store },
        { request: { date: '2026-10-05' }, owner: live, leaseMs: LEASE },
      ),
    ).rejects.toThrow(ConflictError);
    expect(abandonedLocalLock({ version, owner: dead, expiresAt: 0 })).toBe(true);
    expect(abandonedLocalLock({ version, owner: 'exec-1', expiresAt: 0 })).toBe(false);
    await startRun(
      { versions: local.store, locks: local.store },
      {
        request: { date: '2026-10-05' },
        owner: live,
        leaseMs: LEASE,
        abandoned: abandonedLocalLock,
      },
    );
    expect((await local.store.getRunLock(version))?.owner).toBe(live);
  });
});
