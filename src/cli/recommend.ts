import type { Command } from 'commander';
import { z } from 'zod';
import { parseVersionId } from '../embeddings/table-schema.ts';
import { type Recommendation, Recommender } from '../lookup/recommend.ts';
import { dataDirFlag, intString, openLocalEnv, parseFlags } from './local-env.ts';

const recommendFlags = z.object({
  user: z.string().min(1, 'a user id is required').max(1024),
  k: intString(1, 1000).default(10),
  recent: intString(0, 1000).default(10),
  version: z.string().min(1).optional(),
  json: z.boolean().default(false),
  newOnly: z.boolean().default(false),
  data: dataDirFlag,
});

function formatRecommendation(r: Recommendation): string {
  const lines = [`${r.userId}: embedding of ${r.date} under ${r.version}`];
  lines.push(`recent actions (newest last, ${r.recent.length}):`);
  for (const e of r.recent) {
    const duration = e.duration_ms === null ? '' : `  ${(e.duration_ms / 1000).toFixed(1)}s`;
    lines.push(
      `  ${new Date(e.ts).toISOString()}  ${e.action.padEnd(7)} ${e.item_id}  on ${e.surface ?? '-'}${duration}`,
    );
  }
  const scope = r.newOnly ? ", none of them the user's own" : '';
  lines.push(`top ${r.items.length} items by cosine with the model's item embeddings${scope}:`);
  for (const { itemId, score } of r.items) lines.push(`  ${itemId}  ${score.toFixed(4)}`);
  return lines.join('\n');
}

/** `pinnerformer recommend USER`: what the user's embedding means, from the embedded table and the run's objects. */
export function registerRecommend(program: Command): void {
  program
    .command('recommend')
    .description("Print a user's recent actions and the top items by cosine with the model's item embeddings")
    .argument('<user>', 'user id')
    .option('--k <n>', 'how many items', '10')
    .option('--recent <n>', 'how many recent actions', '10')
    .option('--version <id>', 'pin a version id, <modelVersion>@<YYYY-MM-DD> (see `pinnerformer versions`)')
    .option('--new-only', "leave out the items of the user's own sequence (ratings: an item is never taken twice)")
    .option('--json', 'print JSON: {userId, version, modelVersion, date, recent, newOnly, items: [{itemId, score}]}')
    .option('--data <dir>', 'data directory', './.pinnerformer')
    .action(async (user: string, raw) => {
      const flags = parseFlags(recommendFlags, { ...raw, user });
      const version = flags.version === undefined ? undefined : parseVersionId(flags.version);
      const { env, close } = await openLocalEnv(flags.data);
      try {
        const recommender = new Recommender(env.objects, env.embeddings, { recent: flags.recent });
        const result = await recommender.recommend(flags.user, flags.k, { version, newOnly: flags.newOnly });
        process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `${formatRecommendation(result)}\n`);
      } finally {
        await close();
      }
    });
}
