/**
 * The report files: bench.json, bench.md and the chart, from a finished run or (`--render`) from
 * an earlier bench.json with its targets re-judged and its projection and scale plan re-derived.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readGpuResults } from './gpu-results.ts';
import { elapsedSeconds, progress } from './progress.ts';
import { reprojected } from './projection.ts';
import { PYTHON } from './python.ts';
import { renderMarkdown } from './report.ts';
import { scaleSection } from './scale-sim.ts';
import { evaluateTargets } from './targets.ts';
import type { BenchReport } from './types.ts';
import { readImportedStability } from './write-policy.ts';

/** bench.json, bench.md and the chart (bench/python/chart.py) into `out`. */
export function writeReports(report: BenchReport, out: string): void {
  writeFileSync(join(out, 'bench.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(out, 'bench.md'), renderMarkdown(report));
  // the chart is optional: without its Python (or matplotlib) the markdown and JSON still stand
  const chart = spawnSync(PYTHON, ['bench/python/chart.py', join(out, 'bench.json'), join(out, 'bench.png')], {
    encoding: 'utf8',
  });
  if (chart.error) progress(`chart skipped: ${PYTHON} cannot run (${chart.error.message})`);
  else if (chart.status !== 0) progress(`chart failed: ${(chart.stderr ?? '').slice(-500)}`);
  progress(`wrote ${out}/bench.{json,md,png} in ${elapsedSeconds().toFixed(0)}s`);
}

/** `--render`: bench.md/png (targets re-judged, projection re-derived) from an earlier bench.json. */
export async function renderOnly(from: string, out: string, gpuDir: string, workDir: string): Promise<void> {
  mkdirSync(out, { recursive: true });
  const earlier = JSON.parse(readFileSync(from, 'utf8')) as BenchReport;
  const gpu = readGpuResults(gpuDir);
  const projection = reprojected(earlier, gpu);
  const { gpu: _earlierGpu, scale: _earlierScale, ...rest } = earlier;
  // the stored replay on an imported fixture, as the run would fold it in
  const imported = readImportedStability();
  const writePolicy = rest.writePolicy && imported ? { ...rest.writePolicy, imported } : rest.writePolicy;
  const withProjection = {
    ...rest,
    ...(writePolicy ? { writePolicy } : {}),
    ...(projection ? { projection } : {}),
    ...(gpu ? { gpu } : {}),
  };
  // section 7 follows the stored figures: the scale plan's simulation is offline and quick
  const scale = await scaleSection(withProjection, {
    workDir: resolve(workDir),
    label: `${from} of ${earlier.createdAt}`,
    ...(earlier.scale ? { earlier: earlier.scale } : {}),
  });
  const updated = { ...withProjection, ...(scale ? { scale } : {}) };
  writeReports({ ...updated, targets: evaluateTargets(updated) }, out);
}
