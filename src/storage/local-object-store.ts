/**
 * The object store over a local directory. Writes go to a temporary file in the target's folder
 * and are renamed into place (atomic on POSIX); putIfAbsent links the temporary file to the key,
 * which fails with EEXIST when the key exists (atomic, unlike a stat-then-write).
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { crashHooksEnabled, crashPoint } from '../testing/crash-points.ts';
import { NotFoundError } from '../util/errors.ts';
import { assertKey, assertPrefix, TEMP_PREFIX, toBytes } from './keys.ts';
import type { ObjectInfo, ObjectStore } from './object-store.ts';

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** A folder's entries; none when it does not exist (a prefix nothing was written under). */
async function entriesOf(dir: string): Promise<import('node:fs').Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return [];
    throw error;
  }
}

/** Whether a process with this pid runs here (EPERM: it runs under another user). */
function processRuns(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errno(error) === 'EPERM';
  }
}

export class LocalObjectStore implements ObjectStore {
  public readonly root: string;

  public constructor(dir: string) {
    this.root = resolve(dir);
  }

  private pathOf(key: string): string {
    assertKey(key);
    return join(this.root, ...key.split('/'));
  }

  public async get(key: string): Promise<Uint8Array> {
    const body = await this.getIfExists(key);
    if (body === undefined) throw new NotFoundError(`object ${key} not found in ${this.root}`, { key });
    return body;
  }

  public async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    const path = this.pathOf(key);
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'EISDIR' || errno(error) === 'ENOTDIR') {
        throw new NotFoundError(`object ${key} not found in ${this.root}`, { key });
      }
      throw error;
    }
    try {
      const out = new Uint8Array(Math.max(0, end - start));
      let filled = 0;
      while (filled < out.length) {
        const { bytesRead } = await handle.read(out, filled, out.length - filled, start + filled);
        if (bytesRead === 0) break; // past the end: the caller sees a short read
        filled += bytesRead;
      }
      return out.subarray(0, filled);
    } finally {
      await handle.close();
    }
  }

  public async getIfExists(key: string): Promise<Uint8Array | undefined> {
    const path = this.pathOf(key);
    try {
      return new Uint8Array(await readFile(path));
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'EISDIR' || errno(error) === 'ENOTDIR') return undefined;
      throw error;
    }
  }

  /** Writes the body to a temporary file next to `path` (same filesystem, so rename is atomic). */
  private async writeTemp(path: string, body: Uint8Array | string): Promise<string> {
    await mkdir(dirname(path), { recursive: true });
    const temp = join(dirname(path), `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    await writeFile(temp, toBytes(body), { flag: 'wx' });
    return temp;
  }

  public async put(key: string, body: Uint8Array | string): Promise<void> {
    const path = this.pathOf(key);
    const temp = await this.writeTemp(path, body);
    if (crashHooksEnabled) crashPoint(`object:temp:${key}`); // reliability tests only (src/testing)
    try {
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    if (crashHooksEnabled) crashPoint(`object:put:${key}`);
  }

  public async putIfAbsent(key: string, body: Uint8Array | string): Promise<boolean> {
    const path = this.pathOf(key);
    const temp = await this.writeTemp(path, body);
    try {
      await link(temp, path);
      return true;
    } catch (error) {
      if (errno(error) === 'EEXIST') return false;
      throw error;
    } finally {
      await rm(temp, { force: true });
    }
  }

  /**
   * Removes the temporary files of writers that died mid-write (SIGKILL, power loss): files named
   * `${TEMP_PREFIX}<pid>-…` whose process no longer runs on this host. Nothing reads them, so this
   * only reclaims space. Call it while holding the data dir (local mode's table lock), so no other
   * process can be mid-write with a reused pid. Returns how many files it removed.
   */
  public async sweepTemporaryFiles(): Promise<number> {
    let removed = 0;
    const visit = async (dir: string): Promise<void> => {
      for (const entry of await entriesOf(dir)) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await visit(path);
        else if (
          entry.name.startsWith(TEMP_PREFIX) &&
          !processRuns(Number(/^\d+/.exec(entry.name.slice(TEMP_PREFIX.length))?.[0]))
        ) {
          await rm(path, { force: true });
          removed++;
        }
      }
    };
    await visit(this.root);
    return removed;
  }

  public async list(prefix: string): Promise<ObjectInfo[]> {
    assertPrefix(prefix);
    // Walk only the deepest folder the prefix names, then filter by the full prefix.
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const out: ObjectInfo[] = [];
    await this.walk(folder, prefix, out);
    // UTF-8 byte order, as S3 lists.
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  }

  private async walk(folder: string, prefix: string, out: ObjectInfo[]): Promise<void> {
    const dir = folder === '' ? this.root : join(this.root, ...folder.split('/'));
    for (const entry of await entriesOf(dir)) {
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      const key = folder === '' ? entry.name : `${folder}/${entry.name}`;
      if (entry.isDirectory()) {
        // Descend only where keys below can still match the prefix.
        if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) await this.walk(key, prefix, out);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const info = await stat(join(dir, entry.name)).catch(() => undefined);
        if (info) out.push({ key, size: info.size });
      }
    }
  }

  public async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathOf(key));
    } catch (error) {
      if (errno(error) !== 'ENOENT') throw error;
    }
  }

  public async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return false;
      throw error;
    }
  }

  /** Absolute path of a key (for tools that need a file, e.g. onnxruntime loading a model). */
  public pathFor(key: string): string {
    const path = this.pathOf(key);
    if (!path.startsWith(this.root + sep)) throw new NotFoundError(`key ${key} escapes ${this.root}`);
    return path;
  }
}
