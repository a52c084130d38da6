// batch-container/gpu-smoke.ts, the check a person runs on a GPU host before the first deploy.
// Here (no GPU) it runs its whole path on the CPU provider against the bundled worker, and its
// refusals; the GPU run itself is documented in docs/deploy.md.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GPU_CHECK_LINE, parseSmokeArgs, smoke } from '../batch-container/gpu-smoke.ts';
import { buildBundles, DEFAULT_ENTRIES } from '../bin/build.ts';

const root = join(import.meta.dirname, '..');
const hasGpu = existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0');

describe('gpu-smoke arguments', () => {
  it('defaults to the local image in GPU mode, two partitions on two lanes, the demo model', () => {
    expect(parseSmokeArgs([])).toEqual({
      image: 'pinnerformer-embed',
      provider: 'cuda',
      partitions: 2,
      partitionsPerJob: 2,
      users: 300,
      model: join(process.cwd(), 'models/demo'),
      keep: false,
    });
    expect(
      parseSmokeArgs(['--bundle', 'dist', '--partitions', '4', '--partitions-per-job', '1', '--keep']),
    ).toMatchObject({
      bundle: join(process.cwd(), 'dist'),
      partitions: 4,
      partitionsPerJob: 1,
      keep: true,
    });
    expect(parseSmokeArgs(['--image', '1234.dkr.ecr.eu-west-1.amazonaws.com/pf@sha256:ab']).image).toBe(
      '1234.dkr.ecr.eu-west-1.amazonaws.com/pf@sha256:ab',
    );
  });

  it('refuses what it cannot run, naming the flag', () => {
    const refusals: [string[], RegExp][] = [
      [['--image', 'x', '--bundle', 'dist'], /give --image or --bundle, not both/],
      [['--partitions', '1'], /--partitions must be a whole number from 2 to 16, got "1"/],
      [['--partitions', '4', '--partitions-per-job', '5'], /--partitions-per-job must be a whole number from 1 to 4/],
      [['--provider', 'rocm'], /--provider must be cuda or cpu, got "rocm"/],
      [['--image'], /--image needs a value/],
      [['--gpu'], /unknown argument "--gpu"\. usage: gpu-smoke\.ts/],
    ];
    for (const [args, message] of refusals) expect(() => parseSmokeArgs(args), args.join(' ')).toThrow(message);
  });

  it.skipIf(hasGpu)('fails at once, saying why, on a host with no GPU', async () => {
    const lines: string[] = [];
    expect(await smoke(parseSmokeArgs([]), (line) => lines.push(line))).toBe(false);
    expect(lines).toEqual([
      'FAIL: no NVIDIA GPU is visible on this host (/dev/nvidia*): run this on the GPU host (a g5/g6 instance)',
    ]);
  });
});

describe('gpu-smoke end to end on the CPU provider (the path the GPU run takes, minus the GPU)', () => {
  it('prepares a tiny run, starts the bundled worker per array child, and passes on every partition embedded', async () => {
    // Prepare: the bundle the image carries
    const scratch = join(root, '.pinnerformer');
    mkdirSync(scratch, { recursive: true });
    const dir = mkdtempSync(join(scratch, 'smoke-bundle-'));
    try {
      await buildBundles({ outDir: dir, entries: { 'batch-worker': DEFAULT_ENTRIES['batch-worker']! } });
      const lines: string[] = [];
      // Act: 3 partitions, 2 per child: children 0 (two lanes) and 1
      const passed = await smoke(
        parseSmokeArgs(['--bundle', dir, '--provider', 'cpu', '--partitions', '3', '--users', '120']),
        (line) => lines.push(line),
      );
      // Assess
      expect(passed, lines.join('\n')).toBe(true);
      expect(lines.filter((l) => /^child \d: exit 0 in/.test(l))).toHaveLength(2);
      expect(lines).toContain('partitions embedded: 3/3');
      expect(lines.at(-1)).toBe('PASS');
      expect(lines.join('\n')).not.toContain(GPU_CHECK_LINE);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
