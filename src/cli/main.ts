import { Command } from 'commander';
import { PinnerFormerError } from '../util/errors.ts';
import { registerCommands } from './commands.ts';

/** Builds the `pinnerformer` command tree. Each command lives in its own module under src/cli/. */
export function buildProgram(): Command {
  const program = new Command()
    .name('pinnerformer')
    .description('PinnerFormer user embeddings: synthetic data, the daily embedding run, lookup and AWS operations.')
    .showHelpAfterError();
  registerCommands(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (error) {
    if (error instanceof PinnerFormerError) {
      process.stderr.write(`error [${error.code}]: ${error.message}\n`);
      process.exitCode = error.code === 'VALIDATION' ? 2 : 1;
      return;
    }
    throw error;
  }
}
