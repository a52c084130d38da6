import type { Command } from 'commander';
import { generateDataset } from '../synth/generate.ts';
import { ValidationError } from '../util/errors.ts';

/** Parses an integer flag; commander hands strings over. */
export function intFlag(name: string): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value.trim())) throw new ValidationError(`--${name} must be an integer, got "${value}"`);
    return Number(value);
  };
}

/** `pinnerformer generate`: writes the synthetic data set (docs/data.md). */
export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('Write a synthetic activity data set: events/dt=*/, items/items.parquet, truth/ (docs/data.md)')
    .requiredOption('--out <dir>', 'output directory')
    .requiredOption('--users <n>', 'number of users', intFlag('users'))
    .requiredOption('--days <n>', 'number of days', intFlag('days'))
    .option('--seed <n>', 'random seed (same seed, same files)', intFlag('seed'), 0)
    .option('--start <date>', 'first day, YYYY-MM-DD (UTC)', '2026-01-01')
    .option('--items <n>', 'number of items (default clamp(users/2, 1000, 200000))', intFlag('items'))
    .option('--topics <n>', 'latent topics (default clamp(sqrt(items)/2, 8, 256))', intFlag('topics'))
    .option('--vector-dim <n>', 'item vector width', intFlag('vector-dim'), 32)
    .option(
      '--chunk-users <n>',
      'users per chunk (memory bound; one file per chunk and day)',
      intFlag('chunk-users'),
      50_000,
    )
    .option('--json', 'print the summary as JSON on stdout')
    .action(async (flags) => {
      const summary = await generateDataset({
        out: flags.out,
        users: flags.users,
        days: flags.days,
        seed: flags.seed,
        start: flags.start,
        items: flags.items,
        topics: flags.topics,
        vectorDim: flags.vectorDim,
        chunkUsers: flags.chunkUsers,
        onProgress: (message) => process.stderr.write(`${message}\n`),
      });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      } else {
        process.stdout.write(
          `wrote ${summary.events} events of ${summary.users} users over ${summary.days} days ` +
            `(${summary.start}..${summary.end}), ${summary.items} items, ${summary.files} files, ` +
            `${(summary.bytes / 1e6).toFixed(1)} MB in ${summary.seconds.toFixed(1)} s to ${flags.out}\n`,
        );
      }
    });
}
