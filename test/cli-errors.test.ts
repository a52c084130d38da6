/**
 * Clear errors where they were unclear (issue 16), through the real CLI: a `--data` that is a
 * file, and read-only commands against a data directory that does not exist (which must not be
 * created).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'pf-cli-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('node', ['bin/pinnerformer.js', ...args], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

describe('--data', () => {
  it('naming a file is refused in words, with exit 2 and no stack trace', () => {
    // Prepare
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    // Act
    const r = cli('versions', '--data', file);
    // Assess
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--data .*not-a-dir is a file, not a data directory/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('that does not exist: lookup says so and creates nothing', () => {
    // Prepare
    const missing = join(dir, 'never-ran');
    // Act
    const r = cli('lookup', 'u1', '--data', missing);
    // Assess
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no embedding table under --data .*never-ran .*run `pinnerformer daily/);
    expect(existsSync(missing)).toBe(false);
  }, 60_000);
});

// moved from test/aws-operate.test.ts: it starts the CLI, so it runs with the slow suites
describe('the commands refuse bad flags before calling AWS', () => {
  it('names the flag and what it expects (exit 2)', async () => {
    const { runCli } = await import('../src/testing/crash-harness.ts');
    // no credentials or stack needed: validation comes first
    const env = { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'none', AWS_SECRET_ACCESS_KEY: 'none' };
    const runs = await Promise.all([
      runCli(['aws', 'status', '--date', '2026-02-31'], { env }),
      runCli(['aws', 'status', '--watch', '1'], { env }),
      runCli(['aws', 'unlock', '--date', '2026-11-27', '--model-version', 'bad/model'], { env }),
      runCli(['aws', 'cancel'], { env }),
    ]);
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 1]);
    expect(runs[0]!.stderr).toMatch(/--date must be an existing day as YYYY-MM-DD, got "2026-02-31"/);
    expect(runs[1]!.stderr).toMatch(/--watch must be a whole number of seconds from 5 to 3600, got "1"/);
    expect(runs[2]!.stderr).toMatch(/--model-version must match/);
    expect(runs[3]!.stderr).toMatch(/required option '--date <date>' not specified/);
  });
});
