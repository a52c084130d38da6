#!/usr/bin/env node
// `make mutation`: StrykerJS over each module of bin/mutation-modules.js, one at a time (or the
// modules named as arguments), then a table of mutation scores per module from Stryker's JSON
// reports (reports/mutation/<module>.json).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { MODULES } from './mutation-modules.js';

const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(MODULES);
for (const name of names) {
  if (!MODULES[name]) {
    console.error(`unknown module "${name}"; modules: ${Object.keys(MODULES).join(', ')}`);
    process.exit(2);
  }
}

/** Stryker's score: killed and timed-out mutants over every mutant a test could have caught. */
export function scoreOf(report) {
  const counts = {};
  for (const file of Object.values(report.files))
    for (const m of file.mutants) counts[m.status] = (counts[m.status] ?? 0) + 1;
  const detected = (counts.Killed ?? 0) + (counts.Timeout ?? 0);
  const valid = detected + (counts.Survived ?? 0) + (counts.NoCoverage ?? 0);
  return { counts, score: valid > 0 ? detected / valid : 1 };
}

let failed = false;
for (const name of names) {
  console.error(`\n== mutation: ${name} (${MODULES[name].mutate.join(', ')})`);
  const flags = (process.env.MUTATION_FLAGS ?? '').split(' ').filter(Boolean);
  const run = spawnSync('npx', ['stryker', 'run', 'stryker.config.mjs', ...flags], {
    stdio: 'inherit',
    env: { ...process.env, PF_MUTATION_MODULE: name },
  });
  if (run.status !== 0) {
    console.error(`stryker failed for ${name} (exit ${run.status})`);
    failed = true;
  }
}

const lines = [
  '| module | mutated | killed | timeout | survived | no coverage | score |',
  '|---|---|---:|---:|---:|---:|---:|',
];
for (const name of Object.keys(MODULES)) {
  const path = `reports/mutation/${name}.json`;
  if (!existsSync(path)) continue;
  const { counts, score } = scoreOf(JSON.parse(readFileSync(path, 'utf8')));
  lines.push(
    `| ${name} | ${MODULES[name].mutate.map((m) => `\`${m}\``).join(', ')} | ${counts.Killed ?? 0} | ${counts.Timeout ?? 0} | ${counts.Survived ?? 0} | ${counts.NoCoverage ?? 0} | ${(100 * score).toFixed(1)}% |`,
  );
}
console.log(lines.join('\n'));
process.exit(failed ? 1 : 0);
