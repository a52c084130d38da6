#!/usr/bin/env node
// Prints the figures the reliability tests measured (reports/reliability.json, written by
// test/reliability/*) as the markdown table of docs/reliability.md, failed trials included.
//   make reliability   (RELIABILITY_REPORT=1 npx vitest run test/reliability && node bin/reliability-report.js)
import { readFileSync } from 'node:fs';
import { register } from 'tsx/esm/api';

register();
const { renderReliability } = await import('../src/testing/reliability-report.ts');
const report = JSON.parse(readFileSync(new URL('../reports/reliability.json', import.meta.url), 'utf8'));
process.stdout.write(renderReliability(report));
