import type { Command } from 'commander';
import { registerAws } from './aws.ts';
import { registerAwsOperations } from './aws-operate.ts';
import { registerDaily } from './daily.ts';
import { registerGenerate } from './generate.ts';
import { registerImport } from './import.ts';
import { registerLookup } from './lookup.ts';
import { registerModel } from './model.ts';
import { registerRecommend } from './recommend.ts';
import { registerRollback } from './rollback.ts';
import { registerServe } from './serve.ts';
import { registerVersions } from './versions.ts';

/**
 * The one place that lists the CLI's commands. Each `register*` function lives in its own module
 * (src/cli/<command>.ts) and adds one command or command group; add a line here for a new one.
 */
export function registerCommands(program: Command): void {
  registerGenerate(program);
  registerImport(program);
  registerDaily(program);
  registerLookup(program);
  registerRecommend(program);
  registerServe(program);
  registerVersions(program);
  registerRollback(program);
  registerModel(program);
  registerAwsOperations(registerAws(program));
}
