/**
 * The demo behind `make demo` (bin/demo.js): generate synthetic data unless present, run the
 * daily job for the last two days with the demo model (each published), print both summaries,
 * one user's lookup and the items nearest to that user's embedding.
 */

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { PARTITIONS } from '../contract/run-contract.ts';
import { addDays } from '../events/schema.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../local/local-embeddings.ts';
import { decodeItemIndex, nearestItems } from '../lookup/recommend.ts';
import { createStagePool, runDaily } from '../pipeline/local-runner.ts';
import { planOptionsOf, readRunManifest } from '../pipeline/plan.ts';
import { readPartitionState } from '../pipeline/state-chain.ts';
import type { DailySummary } from '../pipeline/types.ts';
import { LocalObjectStore } from '../storage/local-object-store.ts';
import { generateDataset } from '../synth/generate.ts';
import { formatSummary } from './daily.ts';
import { dateString, intString, parseFlags } from './local-env.ts';

const demoFlags = z.object({
  data: z.string().min(1).default('.pinnerformer'),
  users: intString(10, 10_000_000).default(20_000),
  days: intString(2, 3650).default(30),
  seed: intString(0, 0xffffffff).default(7),
  start: dateString.default('2026-10-01'),
  model: z.string().min(1).default('models/demo'),
  partitions: intString(PARTITIONS.min, PARTITIONS.max).optional(),
});

const err = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

export async function main(argv: readonly string[]): Promise<void> {
  const started = performance.now();
  const { values } = parseArgs({
    args: [...argv],
    options: {
      data: { type: 'string' },
      users: { type: 'string' },
      days: { type: 'string' },
      seed: { type: 'string' },
      start: { type: 'string' },
      model: { type: 'string' },
      partitions: { type: 'string' },
    },
  });
  const flags = parseFlags(demoFlags, values);
  const dataDir = resolve(flags.data);
  await generateUnlessPresent(dataDir, flags);
  const generatedAt = performance.now();
  const dates = [addDays(flags.start, flags.days - 2), addDays(flags.start, flags.days - 1)];
  const local = await openLocalEmbeddings({ dataDir });
  // One pool for both days: its stage threads keep the model session and the item table loaded.
  const pool = createStagePool(dataDir, local);
  try {
    const summaries: DailySummary[] = [];
    for (const date of dates) {
      const summary = await runDaily({
        dataDir,
        date,
        modelDir: flags.model,
        embeddings: local,
        pool,
        ...planOptionsOf(flags),
        log: (m) => err(`[daily ${date}] ${m}`),
      });
      summaries.push(summary);
      process.stdout.write(`${formatSummary(summary)}\n\n`);
      if (!summary.published) throw new Error(`the run for ${date} was not published: ${summary.reasons.join('; ')}`);
    }
    await showOneUser(dataDir, local, summaries[summaries.length - 1]!, flags.model);
    const total = (performance.now() - started) / 1000;
    const runs = (performance.now() - generatedAt) / 1000;
    process.stdout.write(`\ndemo done in ${total.toFixed(1)}s (daily runs ${runs.toFixed(1)}s); data in ${dataDir}\n`);
  } finally {
    await pool.close();
    await local.close();
  }
}

/** Generates the synthetic data set into `dataDir` unless it already has events. */
async function generateUnlessPresent(dataDir: string, flags: z.output<typeof demoFlags>): Promise<void> {
  if (existsSync(join(dataDir, 'events'))) {
    err(`demo: using the data already in ${dataDir}`);
  } else {
    err(`demo: generating ${flags.users} users x ${flags.days} days (seed ${flags.seed}) into ${dataDir}`);
    const g = await generateDataset({
      users: flags.users,
      days: flags.days,
      seed: flags.seed,
      start: flags.start,
      out: dataDir,
      onProgress: (m) => err(`  ${m}`),
    });
    err(`demo: ${g.events} events in ${g.seconds.toFixed(1)}s`);
  }
}

/** One user re-embedded on the last day: the lookup, their recent actions and the nearest items. */
async function showOneUser(
  dataDir: string,
  local: LocalEmbeddings,
  last: DailySummary,
  modelDir: string,
): Promise<void> {
  // One user re-embedded on the last day with a reasonably long history (partition 0).
  const env = { objects: new LocalObjectStore(dataDir), embeddings: local.store };
  const run = await readRunManifest(env, last.modelVersion, last.date, last.attempt);
  const { sequences, embeddings: rows } = await readPartitionState(env, run, 0); // base + deltas
  const fresh = sequences.filter((u) => rows.get(u.userId)?.date === last.date);
  const candidates = fresh.length > 0 ? fresh : sequences;
  const sequence =
    candidates.find((u) => u.events.length >= 20) ?? candidates.sort((a, b) => b.events.length - a.events.length)[0];
  if (!sequence) throw new Error('no user in partition 0');
  const found = await local.store.lookup(sequence.userId);
  if (!found) throw new Error(`lookup found no embedding for ${sequence.userId}`);
  const head = found.embedding.slice(0, 6).map((v) => v.toFixed(4));
  process.stdout.write(
    `lookup ${found.userId}: ${found.dims}-d embedding of ${found.date}, version ${found.version}\n  [${head.join(', ')}, …]\n`,
  );
  process.stdout.write(`their 5 most recent actions (of ${sequence.events.length} kept):\n`);
  for (const e of sequence.events.slice(-5)) {
    process.stdout.write(
      `  ${new Date(e.ts).toISOString()}  ${e.action.padEnd(7)} ${e.item_id}  on ${e.surface ?? '-'}\n`,
    );
  }
  const itemFile = join(modelDir, 'item_embeddings.parquet');
  process.stdout.write(`nearest items (cosine, from ${itemFile}):\n`);
  const index = await decodeItemIndex(readFileSync(itemFile), itemFile);
  for (const { itemId, score } of nearestItems(index, found.embedding, 5)) {
    process.stdout.write(`  ${itemId}  ${score.toFixed(4)}\n`);
  }
}
