/**
 * The reliability figures (docs/reliability.md): each reliability test file records what it
 * measured — the case, the number of trials and the outcome — as `reports/reliability/<file>.json`,
 * and the parts are merged into `reports/reliability.json`. Numbers come from the runs themselves.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './crash-harness.ts';

export interface ReliabilityCase {
  /** Short stable id, e.g. `crash.embed`. */
  readonly id: string;
  readonly description: string;
  readonly trials: number;
  /** Trials whose outcome was the expected one. */
  readonly passed: number;
  /** What happened, in words a reader of docs/reliability.md needs (counts, messages). */
  readonly result: string;
  readonly figures?: Readonly<Record<string, number | string | boolean>>;
}

const REPORT_DIR = join(REPO_ROOT, 'reports', 'reliability');
const REPORT_FILE = join(REPO_ROOT, 'reports', 'reliability.json');

async function writeAtomic(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text);
  await rename(temp, path);
}

/**
 * Writes one test file's cases and rebuilds the merged report from every part present. A report
 * that cannot be written (read-only checkout) is a warning, not a test failure.
 */
export async function recordReliability(part: string, cases: readonly ReliabilityCase[]): Promise<void> {
  try {
    await writeReport(part, cases);
  } catch (error) {
    console.warn(`reliability report not written: ${String(error)}`);
  }
}

async function writeReport(part: string, cases: readonly ReliabilityCase[]): Promise<void> {
  await mkdir(REPORT_DIR, { recursive: true });
  const sorted = [...cases].sort((a, b) => a.id.localeCompare(b.id));
  await writeAtomic(join(REPORT_DIR, `${part}.json`), `${JSON.stringify({ part, cases: sorted }, null, 2)}\n`);
  const merged: ReliabilityCase[] = [];
  for (const name of (await readdir(REPORT_DIR)).filter((n) => n.endsWith('.json')).sort()) {
    const body = JSON.parse(await readFile(join(REPORT_DIR, name), 'utf8')) as { cases: ReliabilityCase[] };
    merged.push(...body.cases);
  }
  const totals = {
    cases: merged.length,
    trials: merged.reduce((n, c) => n + c.trials, 0),
    passed: merged.reduce((n, c) => n + c.passed, 0),
  };
  await writeAtomic(REPORT_FILE, `${JSON.stringify({ totals, cases: merged }, null, 2)}\n`);
}
