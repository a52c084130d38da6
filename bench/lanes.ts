/**
 * Section 2d: a Batch child's lanes. The Batch container's own entry (batch-container/worker.ts
 * runWorker, CPU provider) embeds partitions of the steady day the daily benchmark already ran:
 * one child per partition, one after another (the container before lanes), against one child
 * embedding them all at once on lanes (each a stage thread with its own session and writer
 * thread), alternating. Every run writes into a fresh in-memory table and rewrites the day's
 * snapshots with the same bytes. On the GPU the lanes' point is to run a partition's CPU work on
 * more cores beside one GPU; here inference is CPU work too, so both shapes use every core.
 */
import { resolve } from 'node:path';
import { runChild } from './daily.ts';
import { progress } from './progress.ts';
import { mean, round } from './stats.ts';

/** How the child process starts: bundled as the container runs it (bin/build.ts), or from the sources through tsx. */
export type LanesStart = 'bundle' | 'tsx';

export interface LanesRound {
  readonly start: LanesStart;
  readonly shape: 'serial' | 'lanes';
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly peakRssMiB: number;
}

export interface LanesResult {
  readonly users: number;
  readonly date: string;
  readonly partitions: readonly number[];
  readonly embeddedUsers: number;
  readonly cores: number;
  readonly rounds: readonly LanesRound[];
  /** Bundled: mean seconds per shape, and serial / lanes (the lanes' speed-up). */
  readonly meanSeconds: LanesMeans;
  /** The same from the sources through tsx (what the container ran before it was bundled). */
  readonly fromSources: LanesMeans;
}

export interface LanesMeans {
  readonly serial: number;
  readonly lanes: number;
  readonly speedup: number;
  /** Mean CPU seconds of the lanes shape minus the serial shape's. */
  readonly extraCpuSeconds: number;
}

export interface LanesOptions {
  readonly dataDir: string;
  readonly users: number;
  readonly date: string;
  readonly modelVersion: string;
  /** Partitions of the child; default [0, 1]. */
  readonly partitions?: readonly number[];
  /** Rounds per shape; default 2. */
  readonly rounds?: number;
  readonly cores: number;
}

export async function benchLanes(options: LanesOptions): Promise<LanesResult> {
  const partitions = options.partitions ?? [0, 1];
  const rounds: LanesRound[] = [];
  let embeddedUsers = 0;
  for (let r = 0; r < (options.rounds ?? 2); r++) {
    for (const start of ['bundle', 'tsx'] as const) {
      for (const shape of ['serial', 'lanes'] as const) {
        progress(
          `lanes ${options.users} ${options.date}: ${shape} (${start}), partitions ${partitions.join(',')}, round ${r + 1}`,
        );
        const out = await runChild<{ embeddedUsers: number }>(
          ['batch-child', resolve(options.dataDir), options.date, options.modelVersion, partitions.join(','), shape],
          `lanes ${shape} (${start})`,
          { env: { POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'SILENT' }, sources: start === 'tsx' },
        );
        embeddedUsers = out.result.embeddedUsers;
        rounds.push({
          start,
          shape,
          seconds: round(out.processSeconds),
          cpuSeconds: round(out.cpuSeconds),
          peakRssMiB: round(out.maxRssBytes / 2 ** 20),
        });
      }
    }
  }
  return {
    users: options.users,
    date: options.date,
    partitions,
    embeddedUsers,
    cores: options.cores,
    rounds,
    meanSeconds: meansOf(rounds, 'bundle'),
    fromSources: meansOf(rounds, 'tsx'),
  };
}

function meansOf(rounds: readonly LanesRound[], start: LanesStart): LanesMeans {
  const of = (shape: LanesRound['shape'], field: 'seconds' | 'cpuSeconds') =>
    mean(rounds.filter((r) => r.start === start && r.shape === shape).map((r) => r[field]));
  const serial = of('serial', 'seconds');
  const lanes = of('lanes', 'seconds');
  return {
    serial: round(serial),
    lanes: round(lanes),
    speedup: round(serial / lanes),
    extraCpuSeconds: round(of('lanes', 'cpuSeconds') - of('serial', 'cpuSeconds')),
  };
}
