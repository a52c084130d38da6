/**
 * The crash harness of the reliability tests (docs/reliability.md): runs the `pinnerformer` CLI as
 * a child process (optionally armed with a crash point, or SIGKILLed from outside after a delay)
 * and captures a data directory's state — every table item and every visible object — in a form
 * two runs can be compared with, byte for byte.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { type AttributeValue, ScanCommand, type ScanCommandOutput } from '@aws-sdk/client-dynamodb';
import { openLocalEmbeddings } from '../local/local-embeddings.ts';
import { TEMP_PREFIX } from '../storage/keys.ts';

/** The repository root (bin/pinnerformer.js lives there). */
export const REPO_ROOT = new URL('../../', import.meta.url).pathname;

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when the harness itself sent the SIGKILL (killAfterMs). */
  readonly killedByHarness: boolean;
}

export interface CliOptions {
  /** Extra environment (crash points, lock lease). */
  readonly env?: Readonly<Record<string, string>>;
  /** SIGKILL the child this many ms after `killAfterLine` appears on stderr (or after spawn). */
  readonly killAfterMs?: number;
  /** A stderr substring that starts the kill timer; default: the timer starts at spawn. */
  readonly killAfterLine?: string;
  /** Hard limit for one child, ms; default 120 000 (then SIGKILL and reject). */
  readonly timeoutMs?: number;
}

/** Runs `node bin/pinnerformer.js <args>` from the repository root and collects its output. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  return runNode(join(REPO_ROOT, 'bin/pinnerformer.js'), args, options);
}

/** Runs `node <script> <args>` from the repository root and collects its output (options as runCli's). */
export function runNode(script: string, args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killedByHarness = false;
    let killTimer: NodeJS.Timeout | undefined;
    const armKill = (): void => {
      if (options.killAfterMs === undefined || killTimer) return;
      killTimer = setTimeout(() => {
        killedByHarness = child.kill('SIGKILL');
      }, options.killAfterMs);
    };
    if (options.killAfterLine === undefined) armKill();
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      const name = relative(REPO_ROOT, script).replace(/^bin\/pinnerformer\.js$/, 'pinnerformer');
      reject(new Error(`${name} ${args.join(' ')} did not finish in ${options.timeoutMs ?? 120_000} ms`));
    }, options.timeoutMs ?? 120_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (options.killAfterLine !== undefined && stderr.includes(options.killAfterLine)) armKill();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      if (killTimer) clearTimeout(killTimer);
      resolve({ code, signal, stdout, stderr, killedByHarness });
    });
  });
}

/** Fields that hold wall-clock times or durations: they differ between any two runs. */
const CLOCK_FIELDS = new Set([
  'updatedAt',
  'publishedAt',
  'acquiredAt',
  'createdAt',
  'deployedAt',
  'seconds',
  'secondsByStep',
  'cpuSeconds',
]);

function canonicalAttribute(value: AttributeValue): unknown {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.M !== undefined) return { M: canonicalItem(value.M) };
  if (value.L !== undefined) return { L: value.L.map(canonicalAttribute) };
  return value;
}

function canonicalItem(item: Record<string, AttributeValue>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(item).sort()) {
    if (CLOCK_FIELDS.has(name)) continue;
    out[name] = canonicalAttribute(item[name]!);
  }
  return out;
}

function canonicalJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalJson);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      if (!CLOCK_FIELDS.has(key)) out[key] = canonicalJson((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return value;
}

export interface DataDirState {
  /** Every table item as canonical JSON (clock fields dropped; binary as base64), sorted. */
  readonly items: readonly string[];
  /** Visible object key -> sha256 of its bytes (JSON objects: of their canonical form, clock fields dropped). */
  readonly objects: Readonly<Record<string, string>>;
  /** Temporary files a killed writer left behind (never listed, never read). */
  readonly tempFiles: number;
}

/** Scans a table through an open client; canonical, sorted item strings. */
export async function scanTable(
  client: { send(command: ScanCommand): Promise<ScanCommandOutput> },
  tableName: string,
): Promise<string[]> {
  const items: string[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey }));
    for (const item of page.Items ?? []) items.push(JSON.stringify(canonicalItem(item)));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items.sort();
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walkFiles(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** The data dir's objects (all but the table in `dynamodb/`): visible keys with content hashes, and leftover temp files. */
export async function objectState(dataDir: string): Promise<{ objects: Record<string, string>; tempFiles: number }> {
  const root = dataDir;
  const objects: Record<string, string> = {};
  let tempFiles = 0;
  for (const path of (await walkFiles(root)).sort()) {
    const key = relative(root, path).split('\\').join('/');
    if (key.startsWith('dynamodb/')) continue;
    if (key.split('/').some((segment) => segment.startsWith(TEMP_PREFIX))) {
      tempFiles++;
      continue;
    }
    let bytes: Buffer = await readFile(path);
    if (key.endsWith('.json')) bytes = Buffer.from(JSON.stringify(canonicalJson(JSON.parse(bytes.toString('utf8')))));
    objects[key] = createHash('sha256').update(bytes).digest('hex');
  }
  return { objects, tempFiles };
}

/** The whole state of a local data dir (opens its embedded table; no process may hold it). */
export async function dataDirState(dataDir: string): Promise<DataDirState> {
  const local = await openLocalEmbeddings({ dataDir });
  try {
    const items = await scanTable(local.dynamo.client, local.tableName);
    return { items, ...(await objectState(dataDir)) };
  } finally {
    await local.close();
  }
}
