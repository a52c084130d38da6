#!/usr/bin/env node
// Prints the figures the reliability tests measured (reports/reliability.json, written by
// test/reliability/*) as the markdown table of docs/reliability.md.
//   npx vitest run test/reliability && node bin/reliability-report.js
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(new URL('../reports/reliability.json', import.meta.url), 'utf8'));
const cell = (text) => String(text).replaceAll('|', '\\|').replaceAll('\n', ' ');
const figures = (c) =>
  Object.entries(c.figures ?? {})
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
const lines = ['| case | what | trials | passed | result | figures |', '|---|---|---:|---:|---|---|'];
for (const c of report.cases) {
  lines.push(
    `| \`${c.id}\` | ${cell(c.description)} | ${c.trials} | ${c.passed} | ${cell(c.result)} | ${cell(figures(c))} |`,
  );
}
lines.push('', `Totals: ${report.totals.cases} cases, ${report.totals.trials} trials, ${report.totals.passed} passed.`);
process.stdout.write(`${lines.join('\n')}\n`);
