/**
 * Runs section 8 (bench/active-cost.ts) alone and folds its result into a report's bench.json:
 *   npx tsx bench/active-cost-run.ts [--users 20000] [--reps 3] [--partitions 4] [--json reports/bench.json] [--work DIR]
 *   npm run bench -- --render reports/bench.json     (then re-renders bench.md with it)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchActiveCost } from './active-cost.ts';
import { progress } from './progress.ts';
import type { BenchReport } from './types.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '20000' },
    reps: { type: 'string', default: '3' },
    partitions: { type: 'string', default: '4' },
    shares: { type: 'string', default: '1,0.3,0.1' },
    json: { type: 'string', default: 'reports/bench.json' },
    work: { type: 'string', default: '.pinnerformer/bench' },
    model: { type: 'string', default: 'models/demo' },
  },
});
const activeCost = await benchActiveCost({
  workDir: resolve(values.work),
  modelDir: values.model,
  users: Number(values.users),
  reps: Number(values.reps),
  partitions: Number(values.partitions),
  shares: values.shares.split(',').map(Number),
});
const path = values.json;
const report = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as BenchReport) : undefined;
if (report) writeFileSync(path, `${JSON.stringify({ ...report, activeCost }, null, 2)}\n`);
for (const row of activeCost.rows) progress(`active-user cost: ${JSON.stringify(row)}`);
progress(
  `active-user cost: ${JSON.stringify({ exponents: activeCost.exponents, perActiveRatio: activeCost.perActiveRatio })}`,
);
progress(
  report ? `folded into ${path}; render it with npm run bench -- --render ${path}` : `${path} not found: printed only`,
);
