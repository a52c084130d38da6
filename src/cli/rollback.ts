import type { Command } from 'commander';
import { z } from 'zod';
import { parseVersionId } from '../embeddings/table-schema.ts';
import type { EmbeddingStore } from '../embeddings/types.ts';
import { dataDirFlag, openLocalEnv, parseFlags } from './local-env.ts';

const rollbackFlags = z.object({ to: z.string().min(1, 'a version id is required'), data: dataDirFlag });

async function withdrawnVersions(store: EmbeddingStore): Promise<string[]> {
  return (await store.listVersions())
    .filter((v) => v.withdrawn)
    .map((v) => v.version)
    .sort();
}

/** `pinnerformer rollback --to V`: moves the pointer back to an earlier published version. */
export function registerRollback(program: Command): void {
  program
    .command('rollback')
    .description(
      'Move the current-version pointer to another published version (back, or forward to one a rollback withdrew)',
    )
    .requiredOption('--to <version>', 'version id from `pinnerformer versions`, <modelVersion>@<YYYY-MM-DD>')
    .option('--data <dir>', 'data directory', './.pinnerformer')
    .action(async (raw) => {
      const flags = parseFlags(rollbackFlags, raw);
      const target = parseVersionId(flags.to);
      const { env, close } = await openLocalEnv(flags.data, { create: false });
      try {
        const before = await env.embeddings.getPointer();
        const withdrawnBefore = await withdrawnVersions(env.embeddings);
        const pointer = await env.embeddings.rollback(target, before?.seq);
        const withdrawnAfter = await withdrawnVersions(env.embeddings);
        const lines = [`pointer: ${before?.version ?? '(none)'} -> ${pointer.version}`];
        const restored = withdrawnBefore.filter((v) => !withdrawnAfter.includes(v));
        const withdrawn = withdrawnAfter.filter((v) => !withdrawnBefore.includes(v));
        if (withdrawn.length > 0) lines.push(`withdrawn: ${withdrawn.join(', ')}`);
        if (restored.length > 0) lines.push(`restored: ${restored.join(', ')}`);
        // What stays withdrawn of the target's model: said, so a roll forward never hides a day silently.
        const still = withdrawnAfter.filter((v) => v.startsWith(`${pointer.modelVersion}@`) && !withdrawn.includes(v));
        if (still.length > 0) lines.push(`still withdrawn: ${still.join(', ')} (roll forward to them to restore)`);
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        await close();
      }
    });
}
