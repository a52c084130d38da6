/**
 * The one `pinnerformer daily` invocation of the reliability suites that run the CLI (crash,
 * concurrency): the tiny fixture model on a small, single-threaded run, so that two runs compare
 * byte for byte and a 2-core machine can afford many of them.
 */

/** The fixture model the CLI runs deploy on first use. */
export const DAILY_MODEL = 'test/fixtures/models/tiny';

/** Partitions, worker processes and inference threads of every run: the in-process runs use them too. */
export const DAILY_SHAPE = { partitions: 4, workers: 1, threads: 1 } as const;

/** `daily --date D --data DIR --model M --partitions 4 --workers 1 --threads 1 --json`. */
export function dailyArgs(dataDir: string, date: string, model: string = DAILY_MODEL): string[] {
  return [
    'daily',
    '--date',
    date,
    '--data',
    dataDir,
    '--model',
    model,
    '--partitions',
    String(DAILY_SHAPE.partitions),
    '--workers',
    String(DAILY_SHAPE.workers),
    '--threads',
    String(DAILY_SHAPE.threads),
    '--json',
  ];
}
