/**
 * The benchmark's command line (`npm run bench -- ...`) and the settings a run derives from it:
 * sizes and repetitions, small under --quick (checks the benchmark itself, figures mean little).
 */
import { Command } from 'commander';

export interface Flags {
  readonly full: boolean;
  readonly quick: boolean;
  readonly skip: string;
  readonly work: string;
  readonly out: string;
  readonly model: string;
  readonly threads: string;
  readonly days: string;
  readonly dailySizes?: string;
  readonly render?: string;
  readonly gpu: string;
}

/** What a run measures and how often; stored in bench.json as `settings`. */
// a type, not an interface: bench.json stores it as a Record<string, unknown>
export type BenchSettings = {
  readonly quick: boolean;
  readonly full: boolean;
  readonly threads: number;
  readonly days: number;
  readonly dailySizes: number[];
  readonly demoBatchSizes: number[];
  readonly paperBatchSizes: number[];
  readonly reps: number;
  readonly paperReps: number;
  readonly paperDailyUsers: number;
  readonly paddingUsers: number;
  readonly lookupSeconds: number;
  readonly lookupConnections: number;
};

/** The sections `--skip` can leave out. */
export type Section =
  | 'daily'
  | 'paper-daily'
  | 'pipelining'
  | 'lanes'
  | 'lookup'
  | 'cost'
  | 'inference'
  | 'paper'
  | 'write-policy'
  | 'scale'
  | 'active-cost';

export function parseFlags(argv: readonly string[]): Flags {
  const program = new Command()
    .name('bench')
    .option('--full', 'also run the 1M-user day (slow)', false)
    .option('--quick', 'tiny sizes and single reps: checks the benchmark itself, figures mean little', false)
    .option(
      '--skip <sections>',
      'comma-separated: daily, paper-daily, pipelining, lanes, lookup, cost, inference, paper, write-policy, scale, active-cost',
      '',
    )
    .option('--work <dir>', 'work folder for generated models and data (gitignored)', '.pinnerformer/bench')
    .option('--out <dir>', 'where bench.json/md/png go', 'reports')
    .option('--model <dir>', 'the demo model directory', 'models/demo')
    .option('--threads <n>', 'threads for onnxruntime and PyTorch', '2')
    .option('--days <n>', 'days of synthetic history per daily-run size', '7')
    .option('--daily-sizes <users>', 'comma-separated user counts of the daily runs (overrides --full / --quick)')
    .option('--render <json>', 'only re-render bench.md/png (targets re-judged) from an earlier bench.json')
    .option(
      '--gpu <dir>',
      "folder holding bench/gpu.sh's results (bench-gpu*.json), folded into the report",
      'reports',
    );
  program.parse([...argv]);
  return program.opts<Flags>();
}

/** `--skip daily,lookup` -> the set of skipped sections. */
export function skippedSections(flags: Flags): ReadonlySet<Section> {
  return new Set(flags.skip.split(',').filter(Boolean) as Section[]);
}

/** `--daily-sizes 10000,1000000` -> [10000, 1000000]; refuses anything but positive integers. */
function dailySizesOf(list: string): number[] {
  const sizes = list.split(',').map((s) => Number(s.trim()));
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`--daily-sizes expects comma-separated positive integers, got ${JSON.stringify(list)}`);
  }
  return sizes;
}

export function settingsOf(flags: Flags): BenchSettings {
  const { quick } = flags;
  return {
    quick,
    full: flags.full,
    threads: Number(flags.threads),
    days: Number(flags.days),
    dailySizes: flags.dailySizes
      ? dailySizesOf(flags.dailySizes)
      : quick
        ? [2000]
        : flags.full
          ? [10_000, 100_000, 1_000_000]
          : [10_000, 100_000],
    demoBatchSizes: quick ? [8] : [8, 32, 128],
    paperBatchSizes: quick ? [1] : [1, 4, 8],
    // rounds of each inference contest; comparisons use the median of them (best-of-3 had moved
    // the demo model's ratios by ±30% between runs on this shared machine)
    reps: quick ? 1 : 9,
    paperReps: quick ? 1 : 7,
    paperDailyUsers: quick ? 500 : 2000,
    paddingUsers: quick ? 256 : 1024,
    lookupSeconds: quick ? 2 : 10,
    lookupConnections: 8,
  };
}
