import type { Command } from 'commander';
import { z } from 'zod';
import { dataDirFlag, openLocalEnv, parseFlags } from './local-env.ts';

const versionsFlags = z.object({ json: z.boolean().default(false), data: dataDirFlag });

/** `pinnerformer versions`: the recorded versions and the current pointer. */
export function registerVersions(program: Command): void {
  program
    .command('versions')
    .description('List recorded versions (published, withdrawn by a rollback, or refused) and the current pointer')
    .option('--json', 'print {current, versions: [{version, modelVersion, date, published, …}]}')
    .option('--data <dir>', 'data directory', './.pinnerformer')
    .action(async (raw) => {
      const flags = parseFlags(versionsFlags, raw);
      const { env, close } = await openLocalEnv(flags.data, { create: false });
      try {
        const pointer = await env.embeddings.getPointer();
        const versions = (await env.embeddings.listVersions()).sort((a, b) =>
          a.date === b.date ? a.modelVersion.localeCompare(b.modelVersion) : a.date.localeCompare(b.date),
        );
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ current: pointer?.version ?? null, versions })}\n`);
          return;
        }
        process.stdout.write(`current: ${pointer?.version ?? '(none published)'}\n`);
        for (const v of versions) {
          const mark = v.version === pointer?.version ? '*' : ' ';
          const state = !v.published ? 'refused/unpublished' : v.withdrawn ? 'withdrawn (by a rollback)' : 'published';
          process.stdout.write(`${mark} ${v.version}  ${state}  embedded ${v.embeddedUsers ?? '?'}\n`);
        }
      } finally {
        await close();
      }
    });
}
