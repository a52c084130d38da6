import type { Command } from 'commander';
import { z } from 'zod';
import { deployModel } from '../pipeline/model.ts';
import { dataDirFlag, openLocalEnv, parseFlags } from './local-env.ts';

const deployFlags = z.object({ dir: z.string().min(1), data: dataDirFlag });

/** `pinnerformer model deploy DIR`: validates a model directory and uploads it to models/<mv>/. */
export function registerModel(program: Command): void {
  const model = program.command('model').description('Model directories (docs/model-interface.md)');
  model
    .command('deploy')
    .description(
      'Validate a model directory (files, manifest, graph, probe batch) and deploy it to models/<modelVersion>/',
    )
    .argument('<dir>', 'model directory')
    .option('--data <dir>', 'data directory', './.pinnerformer')
    .action(async (dir: string, raw) => {
      const flags = parseFlags(deployFlags, { ...raw, dir });
      const { env, close } = await openLocalEnv(flags.data);
      try {
        const { modelVersion } = await deployModel(env, flags.dir);
        process.stdout.write(`deployed ${modelVersion}\n`);
      } finally {
        await close();
      }
    });
}
