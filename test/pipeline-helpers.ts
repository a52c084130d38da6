/** Shared set-up of the pipeline tests: a temp data dir with a small synthetic data set. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { LocalEmbeddings } from '../src/local/local-embeddings.ts';
import { readRunManifest } from '../src/pipeline/plan.ts';
import type { EmbeddingSnapshotRow, UserSequence } from '../src/pipeline/snapshots.ts';
import { readPartitionState, writtenKeys } from '../src/pipeline/state-chain.ts';
import type { RunManifest } from '../src/pipeline/types.ts';
import { LocalObjectStore } from '../src/storage/local-object-store.ts';
import { generateDataset } from '../src/synth/generate.ts';

export const FIXTURE_MODELS = join(import.meta.dirname, 'fixtures', 'models');
export const fixtureModel = (name: 'tiny' | 'tiny-b' | 'nan' | 'collapse'): string => join(FIXTURE_MODELS, name);
export const fixtureModelVersion = (name: 'tiny' | 'tiny-b' | 'nan' | 'collapse'): string =>
  (JSON.parse(readFileSync(join(fixtureModel(name), 'manifest.json'), 'utf8')) as { modelVersion: string })
    .modelVersion;

/** A temp data dir whose `objects/` holds `days` days of synthetic events from `start`. */
export async function syntheticDataDir(users: number, days: number, start: string, seed = 3): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pf-pipeline-'));
  await generateDataset({ users, days, seed, start, out: dataDir });
  return dataDir;
}

/** Every item of the table, keyed `pk|sk`, values JSON with binaries as base64 (for equality checks). */
export async function scanTable(local: LocalEmbeddings): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await local.dynamo.client.send(
      new ScanCommand({ TableName: local.tableName, ...(start ? { ExclusiveStartKey: start as never } : {}) }),
    );
    for (const item of page.Items ?? []) {
      const json = JSON.stringify(item, (_k, v) =>
        v instanceof Uint8Array ? Buffer.from(v).toString('base64') : (v as unknown),
      );
      out.set(`${item.pk?.S}|${item.sk?.S}`, json);
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

/** The run manifest of a date (its given attempt, else the attempt planned last) in a local data dir. */
export async function runOf(
  dataDir: string,
  modelVersion: string,
  date: string,
  attempt?: string,
): Promise<RunManifest> {
  const objects = new LocalObjectStore(dataDir);
  return readRunManifest({ objects }, modelVersion, date, attempt);
}

/** A day's whole state over every partition (base + deltas, src/pipeline/state-chain.ts): what readers get. */
export async function stateOf(
  dataDir: string,
  modelVersion: string,
  date: string,
  attempt?: string,
): Promise<{ sequences: Map<string, UserSequence>; embeddings: Map<string, EmbeddingSnapshotRow> }> {
  const objects = new LocalObjectStore(dataDir);
  const run = await runOf(dataDir, modelVersion, date, attempt);
  const sequences = new Map<string, UserSequence>();
  const embeddings = new Map<string, EmbeddingSnapshotRow>();
  for (let p = 0; p < run.partitions; p++) {
    const state = await readPartitionState({ objects }, run, p);
    for (const u of state.sequences) sequences.set(u.userId, u);
    for (const [u, row] of state.embeddings) embeddings.set(u, row);
  }
  return { sequences, embeddings };
}

/** The state files a day's run wrote (full snapshots or deltas, as its manifest says), every partition. */
export async function writtenFiles(
  dataDir: string,
  modelVersion: string,
  date: string,
  attempt?: string,
): Promise<string[]> {
  const run = await runOf(dataDir, modelVersion, date, attempt);
  return Array.from({ length: run.partitions }, (_, p) => writtenKeys(run, p)).flatMap((k) => [
    k.sequences,
    k.embeddings,
  ]);
}
