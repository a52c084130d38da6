import type { Command } from 'commander';
import { z } from 'zod';
import { parseVersionId } from '../embeddings/table-schema.ts';
import { NotFoundError } from '../util/errors.ts';
import { dataDirFlag, openLocalEnv, parseFlags } from './local-env.ts';

const lookupFlags = z.object({
  user: z.string().min(1, 'a user id is required').max(1024),
  version: z.string().min(1).optional(),
  json: z.boolean().default(false),
  data: dataDirFlag,
});

/** `pinnerformer lookup USER`: the user's embedding under the current (or a pinned) version. */
export function registerLookup(program: Command): void {
  program
    .command('lookup')
    .description("Print a user's embedding from the embedded table (current version, or --version)")
    .argument('<user>', 'user id')
    .option('--version <id>', 'pin a version id, <modelVersion>@<YYYY-MM-DD> (see `pinnerformer versions`)')
    .option('--json', 'print JSON: {userId, version, modelVersion, date, dims, embedding}')
    .option('--data <dir>', 'data directory', './.pinnerformer')
    .action(async (user: string, raw) => {
      const flags = parseFlags(lookupFlags, { ...raw, user });
      const version = flags.version === undefined ? undefined : parseVersionId(flags.version);
      const { env, close } = await openLocalEnv(flags.data, { create: false });
      try {
        const result = await env.embeddings.lookup(flags.user, version);
        if (!result) {
          throw new NotFoundError(
            `no embedding for user ${JSON.stringify(flags.user)}${flags.version ? ` at ${flags.version}` : ''}`,
          );
        }
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(result)}\n`);
        } else {
          const head = result.embedding.slice(0, 8).map((v) => v.toFixed(4));
          process.stdout.write(
            `${result.userId}: ${result.dims}-d embedding of ${result.date} under ${result.version}\n  [${head.join(', ')}${result.dims > 8 ? ', …' : ''}]\n`,
          );
        }
      } finally {
        await close();
      }
    });
}
