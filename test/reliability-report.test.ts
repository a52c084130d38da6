/** The reliability log and report: a failed trial is counted, kept and shown, never dropped. */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  mergeReport,
  type ReliabilityReport,
  recordReliability,
  renderReliability,
  TrialLog,
} from '../src/testing/reliability-report.ts';

describe('TrialLog', () => {
  it('counts a trial that fails its assertion, keeps its message, and rethrows', async () => {
    const log = new TrialLog('unit');
    await log.trial('unit.case', 'a case', (note) => note('went fine', { items: 3 }));
    const failing = log.trial('unit.case', 'a case', (note) => {
      note('went wrong', { items: 2 });
      expect(2).toBe(3); // the deliberately failing trial
    });
    await expect(failing).rejects.toThrow(/expected 2 to be 3/);
    expect(log.cases()).toEqual([
      {
        id: 'unit.case',
        description: 'a case',
        trials: 2,
        passed: 1,
        result: 'went wrong',
        figures: { items: 2 },
        failures: [expect.stringMatching(/^AssertionError: expected 2 to be 3/)],
      },
    ]);
  });

  it('counts a trial that throws before noting an outcome as failed', async () => {
    const log = new TrialLog('unit');
    await expect(
      log.trial('unit.crash', 'a run that throws', () => {
        throw new Error('the run crashed\nstack line');
      }),
    ).rejects.toThrow('the run crashed');
    expect(log.cases()).toEqual([
      {
        id: 'unit.crash',
        description: 'a run that throws',
        trials: 1,
        passed: 0,
        result: 'no outcome: the trial threw before it noted one',
        failures: ['Error: the run crashed'],
      },
    ]);
  });
});

describe('renderReliability', () => {
  it('shows a failed trial in its row and in the totals', async () => {
    const log = new TrialLog('unit');
    await log.trial('unit.ok', 'passes', (note) => note('fine'));
    await log.trial('unit.bad', 'fails', () => Promise.reject(new Error('lost 3 items'))).catch(() => undefined);
    const text = renderReliability(mergeReport(log.cases()));
    const rows = text.split('\n');
    expect(rows.find((r) => r.startsWith('| `unit.ok`'))).toBe('| `unit.ok` | passes | 1 | 1 | fine |  |');
    expect(rows.find((r) => r.startsWith('| `unit.bad`'))).toContain(
      '| 1 | 0 | **FAILED 1 of 1**: Error: lost 3 items.',
    );
    expect(text).toContain('Totals: 2 cases, 2 trials, 1 passed, **1 FAILED**.');
  });

  it('says nothing failed when nothing did', () => {
    const text = renderReliability(
      mergeReport([{ id: 'a', description: 'd', trials: 4, passed: 4, result: 'r | s', figures: { n: 1, ok: true } }]),
    );
    expect(text).toContain('| `a` | d | 4 | 4 | r \\| s | n 1, ok true |');
    expect(text).toContain('Totals: 1 cases, 4 trials, 4 passed.\n');
  });
});

describe('recordReliability', () => {
  const one = { id: 'a.one', description: 'd', trials: 2, passed: 1, result: 'r' };

  it('writes nothing unless RELIABILITY_REPORT=1: a plain test run leaves the tracked report alone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pf-rel-'));
    try {
      for (const env of [{}, { RELIABILITY_REPORT: '0' }, { RELIABILITY_REPORT: 'true' }]) {
        expect(await recordReliability('a', [one], { env, reportsDir: dir })).toBe(false);
      }
      const log = new TrialLog('b');
      await log.trial('b.one', 'd', (note) => note('r'));
      expect(await log.write({ env: {}, reportsDir: dir })).toBe(false);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('on request writes each part and merges every part present, failures counted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pf-rel-'));
    try {
      const env = { RELIABILITY_REPORT: '1' };
      expect(await recordReliability('a', [one], { env, reportsDir: dir })).toBe(true);
      const log = new TrialLog('b');
      await log.trial('b.one', 'd', (note) => note('r'));
      expect(await log.write({ env, reportsDir: dir })).toBe(true);
      expect((await readdir(join(dir, 'reliability'))).sort()).toEqual(['a.json', 'b.json']);
      const merged = JSON.parse(await readFile(join(dir, 'reliability.json'), 'utf8')) as ReliabilityReport;
      expect(merged.totals).toEqual({ cases: 2, trials: 3, passed: 2 });
      expect(merged.cases.map((c) => c.id)).toEqual(['a.one', 'b.one']);
      expect((await readdir(dir)).sort()).toEqual(['reliability', 'reliability.json']); // no temp file left
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
