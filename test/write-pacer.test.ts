/** A lane's write pace (src/pipeline/write-pacer.ts), on a clock the test controls, and in the output side. */
import { describe, expect, it } from 'vitest';
import { readWorkerSettings } from '../batch-container/worker.ts';
import { type EmbeddingStore, type WriteStats, ZERO_WRITE_STATS } from '../src/embeddings/types.ts';
import { PartitionOutput } from '../src/pipeline/embed-output.ts';
import { type PacerClock, WritePacer } from '../src/pipeline/write-pacer.ts';
import { ValidationError } from '../src/util/errors.ts';

/** Time moves only when the pacer sleeps. */
function manualClock(): PacerClock & { readonly slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

describe('WritePacer', () => {
  it('lets one second of budget through at once, then paces to the rate', async () => {
    const clock = manualClock();
    const pacer = new WritePacer(100, clock);
    await pacer.take(100); // the full bucket
    expect(clock.now()).toBe(0);
    await pacer.take(50); // half a second of budget
    expect(clock.now()).toBeCloseTo(500, 6);
    await pacer.take(100);
    expect(clock.now()).toBeCloseTo(1500, 6);
    expect(pacer.waitedMs).toBeCloseTo(1500, 6);
  });

  it('sends a request larger than the bucket once the bucket is full, in debt after', async () => {
    const clock = manualClock();
    const pacer = new WritePacer(10, clock);
    await pacer.take(25); // 2.5 s of budget from a full 1 s bucket: goes now, 15 units in debt
    expect(clock.now()).toBe(0);
    await pacer.take(10); // must first pay the debt (1.5 s) and refill (1 s)
    expect(clock.now()).toBeCloseTo(2500, 6);
  });

  it('serves callers in order', async () => {
    const clock = manualClock();
    const pacer = new WritePacer(10, clock);
    const order: number[] = [];
    await Promise.all([1, 2, 3].map((i) => pacer.take(10).then(() => order.push(i))));
    expect(order).toEqual([1, 2, 3]);
    expect(clock.now()).toBeCloseTo(2000, 6);
  });

  it('refuses a pace that is not a positive number', () => {
    expect(() => new WritePacer(0)).toThrow(ValidationError);
    expect(() => new WritePacer(Number.NaN)).toThrow(/positive number of write units per second/);
  });
});

describe('PartitionOutput with a write pace', () => {
  it('holds its writes to the pace: of 600 one-unit items at 400 units/s, the last 200 wait half a second', async () => {
    // Arrange: a store that records when each write arrives (one write unit per item)
    const arrivals: number[] = [];
    const store = {
      writeEmbeddings: async (_v: unknown, records: unknown[]): Promise<WriteStats> => {
        arrivals.push(performance.now());
        return { ...ZERO_WRITE_STATS, items: records.length, requests: 1, writeUnits: records.length };
      },
    } as unknown as EmbeddingStore;
    const users = Array.from({ length: 600 }, (_, i) => `u${String(i).padStart(4, '0')}`);
    const output = new PartitionOutput(store, {
      partition: 0,
      version: { modelVersion: 'm', date: '2026-10-01' },
      dims: 2,
      writeChunk: 100,
      writeUnitsPerSecond: 400,
    });
    output.setPrevious(undefined, '');
    output.setUsers(users, Int32Array.from(users.keys()));
    const vectors = new Float32Array(users.length * 2).fill(Math.SQRT1_2);
    // Act
    const start = performance.now();
    await output.addVectors(Int32Array.from(users.keys()), vectors);
    const result = await output.finish();
    // Assess: 400 units go at once, the other 200 at 400 units/s
    expect(result.writeStats.items).toBe(600);
    expect(arrivals).toHaveLength(6);
    expect(arrivals.at(-1)! - start).toBeGreaterThanOrEqual(450);
  });
});

describe("the Batch worker's write pace", () => {
  const env = {
    RUN_DATE: '2026-10-01',
    MODEL_VERSION: 'm1',
    AWS_BATCH_JOB_ARRAY_INDEX: '0',
    PARTITIONS: '4',
    OBJECT_STORE_URI: 's3://bucket',
    TABLE_NAME: 'table',
  };

  it("reads each lane's pace from WRITE_UNITS_PER_SECOND_PER_LANE, unpaced without it", () => {
    expect(readWorkerSettings({ ...env, WRITE_UNITS_PER_SECOND_PER_LANE: '320' }).writeUnitsPerSecond).toBe(320);
    expect(readWorkerSettings(env).writeUnitsPerSecond).toBeUndefined();
  });

  it('refuses a pace that is not positive, naming the variable', () => {
    expect(() => readWorkerSettings({ ...env, WRITE_UNITS_PER_SECOND_PER_LANE: '0' })).toThrow(
      /WRITE_UNITS_PER_SECOND_PER_LANE/,
    );
  });
});
