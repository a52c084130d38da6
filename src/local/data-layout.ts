import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ValidationError } from '../util/errors.ts';

const isDir = (path: string): boolean => existsSync(path) && statSync(path).isDirectory();

/**
 * Checks that `dataDir` has the one local layout: `events/dt=*` (and optional `items/`) at its
 * top, as `generate --out`, `import --out` and training's `--data` use it; the daily run writes its
 * objects beside them and its table in `dynamodb/`. A wrong layout is refused with the folder to
 * use instead, before anything is created in it.
 */
export function assertDataLayout(dataDir: string): void {
  const root = resolve(dataDir);
  if (isDir(join(root, 'events'))) return;
  const hint = 'write events there with `pinnerformer generate --out DIR` or `pinnerformer import ... --out DIR`';
  if (!isDir(root)) {
    throw new ValidationError(`data directory ${root} does not exist; ${hint}`, { dataDir: root });
  }
  // earlier versions kept the objects one level down, in <data>/objects
  for (const inner of ['objects', 'data']) {
    if (isDir(join(root, inner, 'events'))) {
      throw new ValidationError(
        `${root} has no events/ folder, but ${join(root, inner)} has one: pass --data ${join(root, inner)} ` +
          '(a data directory holds events/dt=YYYY-MM-DD/ at its top)',
        { dataDir: root, use: join(root, inner) },
      );
    }
  }
  throw new ValidationError(
    `${root} has no events/ folder (a data directory holds events/dt=YYYY-MM-DD/*.parquet at its top); ${hint}`,
    { dataDir: root },
  );
}
