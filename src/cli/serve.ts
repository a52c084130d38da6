import type { Command } from 'commander';
import { z } from 'zod';
import { startLookupServer } from '../lookup/http-server.ts';
import { Recommender } from '../lookup/recommend.ts';
import { dataDirFlag, intString, openLocalEnv, parseFlags } from './local-env.ts';

const serveFlags = z.object({ port: intString(0, 65535).default(8080), data: dataDirFlag });

/**
 * `pinnerformer serve`: the local lookup HTTP server (src/lookup/http-server.ts) on loopback, over
 * the data dir's embedded table, until SIGINT or SIGTERM. It has no authentication, so it never
 * listens beyond 127.0.0.1; deployed stacks use the lookup Lambda (docs/versioning.md).
 */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Serve lookups on 127.0.0.1: GET /users/:id, POST /users:batch, GET /users/:id/recommendations?k=10')
    .option('--port <n>', 'port (0: a free one)', '8080')
    .option('--data <dir>', 'data directory', './.pinnerformer')
    .action(async (raw) => {
      const flags = parseFlags(serveFlags, raw);
      const { env, close } = await openLocalEnv(flags.data);
      const server = await startLookupServer({
        store: env.embeddings,
        port: flags.port,
        recommender: new Recommender(env.objects, env.embeddings),
      }).catch(async (error: unknown) => {
        await close();
        throw error;
      });
      process.stdout.write(`serving ${flags.data} on ${server.url} (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      await close();
      process.stderr.write('stopped\n');
    });
}
