/**
 * The shared set-up of the plan and partition routing suites (plan-routing, routing-edges): one
 * dynalite and one deployed tiny model per file, copied into each test's fresh object store and
 * table, so a mutation run reruns them cheaply.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { DynamoEmbeddingStore } from '../src/embeddings/dynamo-store.ts';
import type { Event } from '../src/events/schema.ts';
import { encodeEvents } from '../src/events/write-events.ts';
import { ensureTable, type LocalDynamo, startLocalDynamo } from '../src/local/dynalite.ts';
import { deployModel } from '../src/pipeline/model.ts';
import type { PipelineEnv } from '../src/pipeline/types.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { fixtureModel, fixtureModelVersion } from './pipeline-helpers.ts';

export const MV = fixtureModelVersion('tiny');

/** A view of item i{minute % 5} at 10:00 + `minute` on `day`. */
export const event = (userId: string, day: string, minute: number, over: Partial<Event> = {}): Event => ({
  userId,
  itemId: `i${minute % 5}`,
  action: 'view',
  surface: 'home',
  ts: Date.parse(`${day}T10:00:00Z`) + minute * 60_000,
  durationMs: 1000,
  ...over,
});

export async function putDay(env: PipelineEnv, day: string, files: readonly (readonly Event[])[]): Promise<void> {
  for (const [i, events] of files.entries()) {
    await env.objects.put(`events/dt=${day}/part-${i}.parquet`, encodeEvents(events));
  }
}

export interface RoutingFixture {
  /** Each env's log lines. */
  readonly logs: Map<PipelineEnv, string[]>;
  /** A fresh object store (the tiny model deployed) and table; its log lines in `logs` unless `quiet`. */
  freshEnv(quiet?: boolean): Promise<PipelineEnv>;
}

/** Registers the file's beforeAll/afterAll; call once at the top of a test file. */
export function routingFixture(prefix: string): RoutingFixture {
  const dirs: string[] = [];
  const logs = new Map<PipelineEnv, string[]>();
  let dynamo: LocalDynamo;
  let deployed: string;
  let tables = 0;
  beforeAll(async () => {
    dynamo = await startLocalDynamo();
    deployed = mkdtempSync(join(tmpdir(), `pf-${prefix}-model-`));
    dirs.push(deployed);
    await deployModel({ objects: new LocalObjectStore(deployed) }, fixtureModel('tiny'));
  });
  afterAll(async () => {
    await dynamo?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return {
    logs,
    async freshEnv(quiet = false) {
      const dir = mkdtempSync(join(tmpdir(), `pf-${prefix}-`));
      dirs.push(dir);
      cpSync(deployed, dir, { recursive: true });
      const tableName = `${prefix}-${++tables}`;
      await ensureTable(dynamo.client, tableName);
      const lines: string[] = [];
      const env: PipelineEnv = {
        objects: new LocalObjectStore(dir),
        embeddings: new DynamoEmbeddingStore({ tableName, client: dynamo.client, wallClockExpiry: false }),
        ...(quiet ? {} : { log: (m: string) => lines.push(m) }),
      };
      logs.set(env, lines);
      return env;
    },
  };
}
