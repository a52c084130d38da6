/** The Python side of the benchmark: one-shot helper commands and the PyTorch timing server. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { progress } from './progress.ts';

/** The training venv's interpreter (override with PINNERFORMER_PYTHON). */
export const PYTHON = process.env.PINNERFORMER_PYTHON ?? 'training/.venv/bin/python';
const ENV = { ...process.env, PYTHONPATH: 'training', PYTHONUNBUFFERED: '1', OMP_NUM_THREADS: '2' };

function forwardStderr(child: ChildProcessWithoutNullStreams, tag: string): void {
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (line.trim() !== '' && !/^WARNING:root:|quantization\/image_classification/.test(line))
      progress(`${tag}: ${line}`);
  });
}

/** Runs `python script args` and parses the JSON object it prints last on stdout. */
export function runPythonJson<T>(script: string, args: readonly string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [script, ...args], { env: ENV });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    forwardStderr(child, script.split('/').pop() ?? script);
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${script} ${args.join(' ')} exited with ${code}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch (error) {
        reject(new Error(`${script} printed no JSON: ${last.slice(0, 200)}`, { cause: error }));
      }
    });
  });
}

interface Reply {
  readonly ok: boolean;
  readonly error?: string;
  readonly seconds?: number[];
  readonly params?: number;
}

/** bench/python/torch_server.py: PyTorch eager runs on request, one at a time. */
export class TorchServer {
  private readonly waiting: ((reply: Reply) => void)[] = [];

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const next = this.waiting.shift();
      next?.(JSON.parse(line) as Reply);
    });
    forwardStderr(child, 'torch');
  }

  public static async start(threads: number): Promise<TorchServer> {
    const child = spawn(PYTHON, ['bench/python/torch_server.py', String(threads)], { env: ENV });
    const server = new TorchServer(child);
    const ready = await new Promise<Reply>((resolve, reject) => {
      server.waiting.push(resolve);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`torch_server exited with ${code}`)));
    });
    if (!ready.ok) throw new Error('torch_server did not start');
    return server;
  }

  private request(body: Record<string, unknown>): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.waiting.push((reply) => (reply.ok ? resolve(reply) : reject(new Error(`torch: ${reply.error}`))));
      this.child.stdin.write(`${JSON.stringify(body)}\n`);
    });
  }

  public async load(key: string, dir: string): Promise<number> {
    return (await this.request({ op: 'load', key, dir })).params ?? 0;
  }

  /** Seconds of each of `reps` forward passes over a batch directory; the first rep's output to `out`. */
  public async run(key: string, batch: string, reps: number, out?: string): Promise<number[]> {
    return (await this.request({ op: 'run', key, batch, reps, ...(out ? { out } : {}) })).seconds ?? [];
  }

  public async gemm(m: number, k: number, n: number, reps: number): Promise<number[]> {
    return (await this.request({ op: 'gemm', m, k, n, reps })).seconds ?? [];
  }

  public async close(): Promise<void> {
    this.child.stdin.end(`${JSON.stringify({ op: 'quit' })}\n`);
    await new Promise((resolve) => this.child.once('close', resolve));
  }
}
