import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { runDateSchema } from '../contract/messages.ts';
import { formatIssues } from '../contract/run-contract.ts';
import { type LocalEmbeddings, openLocalEmbeddings } from '../local/local-embeddings.ts';
import type { PipelineEnv } from '../pipeline/types.ts';
import { LocalObjectStore } from '../storage/local-object-store.ts';
import { ConflictError, NotFoundError, ValidationError } from '../util/errors.ts';

/** Default data directory of every local command. */
export const DEFAULT_DATA_DIR = './.pinnerformer';

/** `['maxRows', ...]` -> `--max-rows`: the flag an issue is about. */
function flagName(path: readonly PropertyKey[]): string {
  return `--${String(path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Validates a command's flags with zod; a ValidationError names every bad flag. */
export function parseFlags<S extends z.ZodType>(schema: S, flags: unknown): z.infer<S> {
  const parsed = schema.safeParse(flags);
  if (!parsed.success) {
    const problems = formatIssues(parsed.error.issues, 'input', flagName);
    throw new ValidationError(problems.join('; '), { problems });
  }
  return parsed.data;
}

/** A commander flag value (string) that must be a whole number in a range. */
export const intString = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'expected a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

/** A run date flag: an existing day as YYYY-MM-DD (the run contract's rule). */
export const dateString = runDateSchema;

export const dataDirFlag = z.string().min(1).default(DEFAULT_DATA_DIR);

export interface OpenLocalEnvOptions {
  /**
   * Whether a missing data directory may be created (commands that write: daily, model deploy).
   * Read-only commands (lookup, versions, rollback) refuse a directory without a table instead
   * of leaving an empty one behind. @default true
   */
  readonly create?: boolean;
}

/** Refuses a `--data` that is a file, or (when it may not be created) one that holds no table. */
export function checkDataDir(dataDir: string, create: boolean): void {
  const root = resolve(dataDir);
  const info = statSync(root, { throwIfNoEntry: false });
  if (info && !info.isDirectory()) {
    throw new ValidationError(
      `--data ${dataDir} is a file, not a data directory: give the folder the daily run uses (it holds events/, items/ and dynamodb/)`,
      { data: dataDir },
    );
  }
  if (!create && !statSync(join(root, 'dynamodb'), { throwIfNoEntry: false })?.isDirectory()) {
    throw new NotFoundError(
      `no embedding table under --data ${dataDir} (no ${join(root, 'dynamodb')}): run \`pinnerformer daily --data ${dataDir}\` first, or point --data at the folder it used. Nothing was created.`,
      { data: dataDir },
    );
  }
}

/** The embedded parts of local mode under a data dir: it is the object store's root; the table lives in `<data>/dynamodb`. */
export async function openLocalEnv(
  dataDir: string,
  options: OpenLocalEnvOptions = {},
): Promise<{ env: PipelineEnv; local: LocalEmbeddings; close(): Promise<void> }> {
  checkDataDir(dataDir, options.create ?? true);
  const root = resolve(dataDir);
  let local: LocalEmbeddings;
  try {
    local = await openLocalEmbeddings({ dataDir: root });
  } catch (error) {
    if (/lock/i.test(String((error as Error)?.message))) {
      throw new ConflictError(
        `another pinnerformer process is using ${join(root, 'dynamodb')}; try again when it ends`,
      );
    }
    throw error;
  }
  const objects = new LocalObjectStore(root);
  // the table lock is ours now: no other process writes this data dir, so dead writers' leftovers can go
  const swept = await objects.sweepTemporaryFiles();
  if (swept > 0) process.stderr.write(`removed ${swept} temporary files left by interrupted writers\n`);
  const env: PipelineEnv = {
    objects,
    embeddings: local.store,
    log: (message) => process.stderr.write(`${message}\n`),
  };
  return { env, local, close: () => local.close() };
}
