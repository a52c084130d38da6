import type { Command } from 'commander';
import { importEventsCsv } from '../importers/events-csv.ts';
import type { ImportSummary } from '../importers/import-writer.ts';
import { importMovieLens } from '../importers/movielens.ts';

interface ImportFlags {
  readonly out: string;
  readonly json?: boolean;
  readonly overwrite?: boolean;
}

function report(summary: ImportSummary, out: string, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return;
  }
  const rejected = Object.entries(summary.rejected)
    .map(([reason, n]) => `${reason}=${n}`)
    .join(' ');
  process.stdout.write(
    `imported ${summary.events} events over ${Object.keys(summary.rowsByDay).length} days into ${out} ` +
      `as ${summary.importId} (${summary.files.length} files); rejected: ${rejected || 'none'}` +
      `${summary.quarantineFile ? ` (see ${summary.quarantineFile})` : ''}` +
      `${summary.replaced.length > 0 ? `; replaced the earlier import ${summary.replaced.join(', ')}` : ''}\n`,
  );
}

/** `pinnerformer import movielens|events-csv PATH --out DIR` (docs/data.md, "Importers"). */
export function registerImport(program: Command): void {
  const group = program.command('import').description('Convert public data sets into canonical daily event files');
  group
    .command('movielens <path>')
    .description('MovieLens ratings (ml-100k u.data, ml-1m ratings.dat, ratings.csv); the rating becomes the action')
    .requiredOption('--out <dir>', 'output directory (events/dt=*/ is written under it)')
    .option('--json', 'print the summary as JSON')
    .option('--overwrite', 'replace an earlier import of the same input (refused without it)')
    .action(async (path: string, flags: ImportFlags) => {
      const summary = await importMovieLens(path, {
        out: flags.out,
        overwrite: flags.overwrite === true,
        onProgress: (m) => process.stderr.write(`${m}\n`),
      });
      report(summary, flags.out, flags.json === true);
    });
  group
    .command('events-csv <path>')
    .description('Event CSV with a header, RetailRocket style: timestamp,visitorid,event,itemid[,transactionid]')
    .requiredOption('--out <dir>', 'output directory (events/dt=*/ is written under it)')
    .option('--json', 'print the summary as JSON')
    .option('--overwrite', 'replace an earlier import of the same input (refused without it)')
    .action(async (path: string, flags: ImportFlags) => {
      const summary = await importEventsCsv(path, {
        out: flags.out,
        overwrite: flags.overwrite === true,
        onProgress: (m) => process.stderr.write(`${m}\n`),
      });
      report(summary, flags.out, flags.json === true);
    });
}
