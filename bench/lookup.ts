/**
 * Section 4: the lookup handler over HTTP on loopback (src/lookup/http-server.ts in a child
 * process, against the embedded table of a daily-run data dir), under a bounded load from
 * autocannon: a fixed number of connections for a fixed time, single lookups and batches of 100.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { progress } from './progress.ts';
import { round } from './stats.ts';

export interface LookupFigures {
  readonly kind: 'single' | 'batch-100';
  readonly connections: number;
  readonly seconds: number;
  readonly requests: number;
  readonly requestsPerSec: number;
  /** Users answered per second (requests/s × users per request). */
  readonly usersPerSec: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly non2xx: number;
  readonly errors: number;
}

export async function benchLookup(options: {
  readonly dataDir: string;
  readonly userIds: readonly string[];
  /** Connections for single lookups; batches of 100 use a quarter of them (each is 100 queries). */
  readonly connections: number;
  readonly seconds: number;
}): Promise<LookupFigures[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/lookup-child.ts', options.dataDir], {
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  createInterface({ input: child.stderr }).on('line', (line) => progress(`lookup server: ${line}`));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', (line) =>
        resolve((JSON.parse(line) as { url: string }).url),
      );
      child.once('exit', (code) => reject(new Error(`lookup server exited with ${code}`)));
    });
    const ids = options.userIds;
    let next = 0;
    const pick = (): string => ids[next++ % ids.length]!;
    const out: LookupFigures[] = [];
    for (const kind of ['single', 'batch-100'] as const) {
      const connections = kind === 'single' ? options.connections : Math.max(1, Math.floor(options.connections / 4));
      progress(`lookup ${kind}: ${connections} connections for ${options.seconds}s on ${url}`);
      const request =
        kind === 'single'
          ? { method: 'GET', setupRequest: (r: object) => ({ ...r, path: `/users/${encodeURIComponent(pick())}` }) }
          : {
              method: 'POST',
              path: '/users:batch',
              headers: { 'content-type': 'application/json' },
              setupRequest: (r: object) => ({
                ...r,
                path: '/users:batch',
                body: JSON.stringify({ userIds: Array.from({ length: 100 }, pick) }),
              }),
            };
      const result = await autocannon({
        url,
        connections,
        duration: options.seconds,
        requests: [request],
      });
      const requests = result['2xx'] + result.non2xx;
      out.push({
        kind,
        connections,
        seconds: options.seconds,
        requests,
        requestsPerSec: round(result.requests.average),
        usersPerSec: round(result.requests.average * (kind === 'single' ? 1 : 100)),
        p50Ms: result.latency.p50,
        p90Ms: result.latency.p90,
        p99Ms: result.latency.p99,
        maxMs: result.latency.max,
        non2xx: result.non2xx,
        errors: result.errors,
      });
      const r = out[out.length - 1]!;
      progress(`lookup ${kind}: ${r.requestsPerSec} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, non-2xx ${r.non2xx}`);
    }
    return out;
  } finally {
    child.stdin.end();
    await exited;
  }
}
