import type { Command } from 'commander';
import { z } from 'zod';
import { parseVersionId } from '../embeddings/table-schema.ts';
import { dataDirFlag, openLocalEnv, parseFlags } from './local-env.ts';

const rollbackFlags = z.object({ to: z.string().min(1, 'a version id is required'), data: dataDirFlag });

/** `pinnerformer rollback --to V`: moves the pointer back to an earlier published version. */
export function registerRollback(program: Command): void {
  program
    .command('rollback')
    .description('Move the current-version pointer to an earlier published version')
    .requiredOption('--to <version>', 'version id from `pinnerformer versions`, <modelVersion>@<YYYY-MM-DD>')
    .option('--data <dir>', 'data directory', './.pinnerformer')
    .action(async (raw) => {
      const flags = parseFlags(rollbackFlags, raw);
      const target = parseVersionId(flags.to);
      const { env, close } = await openLocalEnv(flags.data, { create: false });
      try {
        const before = await env.embeddings.getPointer();
        const pointer = await env.embeddings.rollback(target, before?.seq);
        process.stdout.write(`pointer: ${before?.version ?? '(none)'} -> ${pointer.version}\n`);
      } finally {
        await close();
      }
    });
}
