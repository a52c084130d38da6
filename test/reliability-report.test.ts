/** The reliability log and report: a failed trial is counted, kept and shown, never dropped. */
import { describe, expect, it } from 'vitest';
import { mergeReport, renderReliability, TrialLog } from '../src/testing/reliability-report.ts';

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
