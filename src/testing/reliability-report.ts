/**
 * The reliability figures (docs/reliability.md): each reliability test file runs its trials through
 * a TrialLog, which records every trial before its assertions run and counts a trial that throws
 * as failed, with its error. With RELIABILITY_REPORT=1 (`make reliability`) the parts land in
 * `reports/reliability/<file>.json` and are merged into `reports/reliability.json`; an ordinary
 * test run writes nothing, so it never rewrites the tracked report. renderReliability prints
 * them, failures included.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './crash-harness.ts';

export type Figures = Readonly<Record<string, number | string | boolean>>;

export interface ReliabilityCase {
  /** Short stable id, e.g. `crash.embed`. */
  readonly id: string;
  readonly description: string;
  readonly trials: number;
  /** Trials that ran to the end with every assertion holding. */
  readonly passed: number;
  /** What happened, in words a reader of docs/reliability.md needs (counts, messages). */
  readonly result: string;
  readonly figures?: Figures;
  /** First line of each failed trial's error. */
  readonly failures?: readonly string[];
}

export interface ReliabilityReport {
  readonly totals: { readonly cases: number; readonly trials: number; readonly passed: number };
  readonly cases: readonly ReliabilityCase[];
}

/** Sets the outcome of the running trial; call it as soon as the outcome is known, before asserting. */
export type NoteOutcome = (result: string, figures?: Figures) => void;

const NO_OUTCOME = 'no outcome: the trial threw before it noted one';

/** The trials of one reliability test file, grouped into cases by id. */
export class TrialLog {
  private readonly byId = new Map<
    string,
    { description: string; trials: number; passed: number; result: string; figures?: Figures; failures: string[] }
  >();

  public constructor(private readonly part: string) {}

  /**
   * Runs one trial of case `id`: counted before `body` starts, passed only when `body` returns;
   * a throw is recorded as a failure (its message kept) and rethrown, so the test fails too.
   */
  public async trial(id: string, description: string, body: (note: NoteOutcome) => unknown): Promise<void> {
    const entry = this.byId.get(id) ?? { description, trials: 0, passed: 0, result: NO_OUTCOME, failures: [] };
    this.byId.set(id, entry);
    entry.trials++;
    try {
      await body((result, figures) => {
        entry.result = result;
        if (figures) entry.figures = figures;
      });
      entry.passed++;
    } catch (error) {
      entry.failures.push(firstLine(error));
      throw error;
    }
  }

  public cases(): ReliabilityCase[] {
    return [...this.byId].map(([id, e]) => ({
      id,
      description: e.description,
      trials: e.trials,
      passed: e.passed,
      result: e.result,
      ...(e.figures ? { figures: e.figures } : {}),
      ...(e.failures.length > 0 ? { failures: [...e.failures] } : {}),
    }));
  }

  /** Writes this file's part and the merged report when requested (nothing when no trial ran). */
  public async write(options?: ReportOptions): Promise<boolean> {
    const cases = this.cases();
    return cases.length > 0 ? recordReliability(this.part, cases, options) : false;
  }
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.split('\n')[0]!.slice(0, 200);
}

/** Where and whether a report is written; the defaults are the repository and the environment. */
export interface ReportOptions {
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** The folder holding `reliability.json` and `reliability/`. @default `<repo>/reports` */
  readonly reportsDir?: string;
}

/** Tests write the report only when asked (`make reliability` sets it): a plain run leaves it alone. */
export const REPORT_ENV = 'RELIABILITY_REPORT';

export function reportRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[REPORT_ENV] === '1';
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text);
  await rename(temp, path);
}

/**
 * With RELIABILITY_REPORT=1, writes one test file's cases and rebuilds the merged report from
 * every part present; returns whether it wrote. A report that cannot be written (read-only
 * checkout) is a warning, not a test failure.
 */
export async function recordReliability(
  part: string,
  cases: readonly ReliabilityCase[],
  options: ReportOptions = {},
): Promise<boolean> {
  if (!reportRequested(options.env)) return false;
  try {
    await writeReport(options.reportsDir ?? join(REPO_ROOT, 'reports'), part, cases);
    return true;
  } catch (error) {
    console.warn(`reliability report not written: ${String(error)}`);
    return false;
  }
}

async function writeReport(reportsDir: string, part: string, cases: readonly ReliabilityCase[]): Promise<void> {
  const partsDir = join(reportsDir, 'reliability');
  await mkdir(partsDir, { recursive: true });
  const sorted = [...cases].sort((a, b) => a.id.localeCompare(b.id));
  await writeAtomic(join(partsDir, `${part}.json`), `${JSON.stringify({ part, cases: sorted }, null, 2)}\n`);
  const merged: ReliabilityCase[] = [];
  for (const name of (await readdir(partsDir)).filter((n) => n.endsWith('.json')).sort()) {
    const body = JSON.parse(await readFile(join(partsDir, name), 'utf8')) as { cases: ReliabilityCase[] };
    merged.push(...body.cases);
  }
  await writeAtomic(join(reportsDir, 'reliability.json'), `${JSON.stringify(mergeReport(merged), null, 2)}\n`);
}

export function mergeReport(cases: readonly ReliabilityCase[]): ReliabilityReport {
  return {
    totals: {
      cases: cases.length,
      trials: cases.reduce((n, c) => n + c.trials, 0),
      passed: cases.reduce((n, c) => n + c.passed, 0),
    },
    cases,
  };
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The markdown table of docs/reliability.md; a case with a failed trial says so in its result. */
export function renderReliability(report: ReliabilityReport): string {
  const lines = ['| case | what | trials | passed | result | figures |', '|---|---|---:|---:|---|---|'];
  for (const c of report.cases) {
    const failed = c.trials - c.passed;
    const result =
      failed > 0
        ? `**FAILED ${failed} of ${c.trials}**: ${(c.failures ?? ['(no message recorded)']).join('; ')}. Last outcome: ${c.result}`
        : c.result;
    const figures = Object.entries(c.figures ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    lines.push(
      `| \`${c.id}\` | ${cell(c.description)} | ${c.trials} | ${c.passed} | ${cell(result)} | ${cell(figures)} |`,
    );
  }
  const { cases, trials, passed } = report.totals;
  const failed = trials - passed;
  lines.push(
    '',
    `Totals: ${cases} cases, ${trials} trials, ${passed} passed${failed > 0 ? `, **${failed} FAILED**` : ''}.`,
  );
  return `${lines.join('\n')}\n`;
}
