/**
 * planSnapshot (src/pipeline/state-chain.ts) alone: when a run writes deltas and when a partition
 * compacts, by age, size, backfill or a first run; on any day about 1/N of the partitions compact.
 * The end-to-end runs are test/state-chain-runs.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, DAY_MS, dayStartMs } from '../src/events/schema.ts';
import {
  chainKeys,
  isCompactionDay,
  planSnapshot,
  snapshotKindOf,
  stateChainOf,
  writtenKeys,
} from '../src/pipeline/state-chain.ts';
import type { StateChain } from '../src/pipeline/types.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';

describe('planSnapshot', () => {
  const MODEL = 'm';
  let dir: string;
  let objects: LocalObjectStore;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pf-plan-snapshot-'));
    objects = new LocalObjectStore(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes a chain's files for `partitions` partitions: the base `baseBytes` long, each delta `deltaBytes`. */
  async function writeChain(chain: StateChain, partitions: number, baseBytes: number, deltaBytes: number) {
    for (let p = 0; p < partitions; p++) {
      const base = writtenKeys({ modelVersion: MODEL, ...chain.base, snapshot: 'full' }, p);
      await objects.put(base.sequences, new Uint8Array(baseBytes));
      await objects.put(base.embeddings, new Uint8Array(baseBytes));
      for (const d of chain.deltas) {
        const keys = writtenKeys({ modelVersion: MODEL, ...d, snapshot: 'delta' }, p);
        await objects.put(keys.sequences, new Uint8Array(deltaBytes));
        await objects.put(keys.embeddings, new Uint8Array(deltaBytes));
      }
    }
  }
  const env = () => ({ objects });
  const settings = { everyDays: 7, deltaShare: 0.5 };
  const runOn = (date: string, backfill = false) => ({ modelVersion: MODEL, date, partitions: 2, backfill });

  it('writes a delta while the chain is young and small, and compacts by age, size, backfill or a first run', async () => {
    // Prepare
    const chain: StateChain = {
      base: { date: '2026-01-01' },
      deltas: [{ date: '2026-01-02' }, { date: '2026-01-03' }],
    };
    await writeChain(chain, 2, 1000, 100);
    // Act + Assess
    expect((await planSnapshot(env(), runOn('2026-01-04'), chain, settings)).snapshot).toBe('delta');
    expect((await planSnapshot(env(), runOn('2026-01-08'), chain, settings)).snapshot).toBe('full'); // 7 days
    expect((await planSnapshot(env(), runOn('2026-01-04'), chain, { ...settings, everyDays: 3 })).snapshot).toBe(
      'full',
    ); // base + 2 deltas + this day = 4 files > 3
    expect((await planSnapshot(env(), runOn('2026-01-04'), chain, { ...settings, deltaShare: 0.15 })).reason).toMatch(
      /compaction of 2 of 2 partitions \(0 on their staggered day, 0 by age, 2 by deltas > 0.15 × base\)/,
    );
    expect((await planSnapshot(env(), runOn('2026-01-04', true), chain, settings)).snapshot).toBe('full');
    expect((await planSnapshot(env(), runOn('2026-01-04'), undefined, settings)).snapshot).toBe('full');
    expect((await planSnapshot(env(), runOn('2026-01-04'), chain, { ...settings, everyDays: 1 })).snapshot).toBe(
      'full',
    );
  });

  it('refuses a chain with a file missing in any partition, even on a backfill', async () => {
    // Prepare
    const chain: StateChain = { base: { date: '2026-02-01', attempt: 'a1' }, deltas: [{ date: '2026-02-02' }] };
    await writeChain(chain, 2, 1000, 100);
    const gone = writtenKeys({ modelVersion: MODEL, date: '2026-02-02', snapshot: 'delta' }, 1).embeddings;
    await objects.delete(gone);
    // Act + Assess
    for (const backfill of [false, true]) {
      await expect(planSnapshot(env(), runOn('2026-02-03', backfill), chain, settings)).rejects.toThrow(
        new RegExp(`state file ${gone.replaceAll('.', '\\.')} is missing`),
      );
    }
  });

  it('staggers compaction: on any day about 1/N of the partitions compact, each once every N days', async () => {
    // Prepare: 14 partitions, N = 7, a full snapshot of every partition on the first day
    const P = 14;
    const N = 7;
    const first = '2026-03-01';
    let chain: StateChain = { base: { date: first }, deltas: [] };
    await writeChain(chain, P, 1000, 10);
    const compacted = new Map<number, string[]>();
    // Act: three cycles of daily runs, each writing the files its plan says
    for (let d = 1; d <= 3 * N; d++) {
      const date = addDays(first, d);
      const planned = await planSnapshot(env(), { modelVersion: MODEL, date, partitions: P, backfill: false }, chain, {
        everyDays: N,
        deltaShare: 0.5,
      });
      const run = {
        modelVersion: MODEL,
        date,
        partitions: P,
        snapshot: planned.snapshot,
        fullPartitions: planned.fullPartitions,
        previousState: chain,
      };
      for (let p = 0; p < P; p++) {
        const keys = writtenKeys(run, p);
        const bytes = snapshotKindOf(run, p) === 'full' ? 1000 : 10;
        await objects.put(keys.sequences, new Uint8Array(bytes));
        await objects.put(keys.embeddings, new Uint8Array(bytes));
      }
      // Assess: P/N partitions compact, exactly those on their staggered day
      expect(planned.snapshot, date).toBe('delta');
      expect(planned.fullPartitions.length, date).toBe(P / N);
      for (const p of planned.fullPartitions) {
        expect(isCompactionDay(date, p, N)).toBe(true);
        compacted.set(p, [...(compacted.get(p) ?? []), date]);
      }
      chain = stateChainOf(run);
      // every partition reads its own base and at most N - 1 deltas; the chain keeps no file no one reads
      for (let p = 0; p < P; p++) expect(chainKeys(MODEL, chain, p).length).toBeLessThanOrEqual(N);
      expect(chain.deltas.length).toBeLessThan(N);
    }
    // each partition compacted once per cycle, N days apart
    expect(compacted.size).toBe(P);
    for (const dates of compacted.values()) {
      expect(dates.length).toBe(3);
      expect(Math.round((dayStartMs(dates[2]!) - dayStartMs(dates[0]!)) / DAY_MS)).toBe(2 * N);
    }
  });
});
