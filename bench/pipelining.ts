/**
 * Section 2b: the embed stage's pipelining and where its CPU goes, on one steady day already run
 * by the daily benchmark (rerunning a day rewrites the same keys with the same values).
 *   - serial vs pipelined (inference threads, a second partition per worker) side by side,
 *     alternating, with the inference lanes' busy share and inference's share of the stage's CPU;
 *   - one more run (the runner's default mode) under --cpu-prof, its embed-stage samples grouped by
 *     component (bench/cpu-profile.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DailySummary, EmbedStageInference } from '../src/pipeline/types.ts';
import { cpuByComponent, INFERENCE_COMPONENT } from './cpu-profile.ts';
import { runChild } from './daily.ts';
import { progress } from './progress.ts';
import { mean, round } from './stats.ts';

export interface PipeliningRound {
  readonly mode: 'serial' | 'pipelined';
  readonly embedSeconds: number;
  readonly inference: EmbedStageInference;
  readonly peakRssMiB: number;
}

export interface PipeliningResult {
  readonly users: number;
  readonly date: string;
  readonly embeddedUsers: number;
  readonly rounds: readonly PipeliningRound[];
  /** Mean embed-stage seconds per mode, and pipelined / serial. */
  readonly meanEmbedSeconds: { readonly serial: number; readonly pipelined: number; readonly ratio: number };
  /**
   * The profiled run's embed-stage CPU by component: inference as measured (its threads' CPU time),
   * the rest of the stage's process CPU split in proportion to the profile's samples outside
   * inference. (V8's samples count a thread's time in a function, waits for a core included, so
   * their raw sums overstate CPU where threads contend; proportions among the rest are kept.)
   */
  readonly profile?: {
    readonly mode: 'serial' | 'pipelined';
    readonly stageCpuSeconds: number;
    readonly cpuSecondsByComponent: Readonly<Record<string, number>>;
    /** The samples' own sums (thread seconds, idle excluded), for reference. */
    readonly sampledSecondsByComponent: Readonly<Record<string, number>>;
  };
}

export interface PipeliningOptions {
  readonly dataDir: string;
  readonly users: number;
  readonly date: string;
  readonly modelDir: string;
  /** Rounds per mode; default 2. */
  readonly rounds?: number;
  readonly workers?: number;
  readonly threads?: number;
}

export async function benchPipelining(options: PipeliningOptions): Promise<PipeliningResult> {
  const args = [
    'daily',
    resolve(options.dataDir),
    options.date,
    resolve(options.modelDir),
    options.workers ? String(options.workers) : '',
    options.threads ? String(options.threads) : '',
  ];
  const rounds: PipeliningRound[] = [];
  let embeddedUsers = 0;
  for (let r = 0; r < (options.rounds ?? 2); r++) {
    for (const mode of ['serial', 'pipelined'] as const) {
      progress(`pipelining ${options.users} ${options.date}: ${mode} run, round ${r + 1}`);
      const out = await runChild<DailySummary>(args, `pipelining ${mode}`, {
        env: { PINNERFORMER_PIPELINED: mode === 'pipelined' ? '1' : '0' },
      });
      const inference = out.result.inference;
      if (!inference) throw new Error(`the ${mode} run reported no inference load`);
      embeddedUsers = out.result.embeddedUsers;
      rounds.push({
        mode,
        embedSeconds: round(out.result.secondsByStage.embed ?? Number.NaN),
        inference: Object.fromEntries(
          Object.entries(inference).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v]),
        ) as unknown as EmbedStageInference,
        peakRssMiB: round(out.maxRssBytes / 2 ** 20),
      });
    }
  }
  const serial = mean(rounds.filter((r) => r.mode === 'serial').map((r) => r.embedSeconds));
  const pipelined = mean(rounds.filter((r) => r.mode === 'pipelined').map((r) => r.embedSeconds));

  const profileDir = mkdtempSync(join(tmpdir(), 'pf-cpu-prof-'));
  let profile: PipeliningResult['profile'];
  try {
    progress(`pipelining ${options.users} ${options.date}: profiled run (the runner's default mode)`);
    const out = await runChild<DailySummary>(args, 'pipelining profile', {
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
      // from the sources: a bundle's samples would all name the one bundle file, not the component
      sources: true,
    });
    const ends = out.stageEndMicros ?? {};
    const inference = out.result.inference;
    if (ends.partition !== undefined && ends.embed !== undefined && inference) {
      const sampled = cpuByComponent(profileDir, ends.partition, ends.embed);
      const inferenceCpu = inference.cpuSeconds ?? sampled[INFERENCE_COMPONENT]!;
      const rest = Object.entries(sampled).filter(([k]) => k !== INFERENCE_COMPONENT);
      const restSampled = rest.reduce((n, [, v]) => n + v, 0);
      const restCpu = Math.max(0, inference.stageCpuSeconds - inferenceCpu);
      profile = {
        mode: inference.pipelined ? 'pipelined' : 'serial',
        stageCpuSeconds: round(inference.stageCpuSeconds),
        cpuSecondsByComponent: {
          [INFERENCE_COMPONENT]: round(inferenceCpu),
          ...Object.fromEntries(rest.map(([k, v]) => [k, round((restCpu * v) / (restSampled || 1))])),
        },
        sampledSecondsByComponent: Object.fromEntries(Object.entries(sampled).map(([k, v]) => [k, round(v)])),
      };
    }
  } finally {
    rmSync(profileDir, { recursive: true, force: true });
  }
  return {
    users: options.users,
    date: options.date,
    embeddedUsers,
    rounds,
    meanEmbedSeconds: { serial: round(serial), pipelined: round(pipelined), ratio: round(pipelined / serial) },
    ...(profile ? { profile } : {}),
  };
}

/** Components of the profile whose CPU grows with each user's events (the rest is per user). */
const PER_USER_COMPONENTS = ['table client', 'output'];

/**
 * CPU seconds per embedded user of a partition's work outside inference, for users of `length`
 * events, from the profiled run: the local table's server left out (DynamoDB's, on AWS), per-user
 * work (table client, output) as measured, the rest scaled from the run's mean sequence length.
 */
export function cpuSecondsPerUser(p: PipeliningResult, meanLength: number, length: number): number | undefined {
  if (!p.profile || p.embeddedUsers === 0 || !(meanLength > 0)) return undefined;
  let perUser = 0;
  let perEvent = 0;
  for (const [name, seconds] of Object.entries(p.profile.cpuSecondsByComponent)) {
    if (name === INFERENCE_COMPONENT || name.startsWith('embedded table server')) continue;
    if (PER_USER_COMPONENTS.some((prefix) => name.startsWith(prefix))) perUser += seconds;
    else perEvent += seconds;
  }
  return (perUser + (perEvent * length) / meanLength) / p.embeddedUsers;
}
