/**
 * Where a stage's CPU time went, from the V8 CPU profiles (--cpu-prof) of every thread of a daily
 * run: the self time of the samples inside a time window, grouped into the pipeline's components
 * by the source of the sampled function. Idle samples are left out; what remains adds up to the
 * CPU the JavaScript threads used (onnxruntime's session.run is one native call, sampled like any).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string };
  }[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export const INFERENCE_COMPONENT = 'inference (onnxruntime)';

/** Components in report order; the first rule whose pattern matches the function's source wins. */
const COMPONENTS: readonly (readonly [string, RegExp])[] = [
  [INFERENCE_COMPONENT, /onnxruntime-node/],
  [
    'embedded table server (dynalite, LevelDB)',
    /node_modules\/(dynalite|classic-level|abstract-level|level|big\.js|lazy|async)\b/,
  ],
  [
    'table client and loopback HTTP (AWS SDK)',
    /node_modules\/(@smithy|@aws-sdk|@aws-crypto)|node:(http|_http|net|internal\/(http|stream|crypto))|^\(writev\)$/,
  ],
  [
    'parquet columns (hyparquet, src/io)',
    /node_modules\/hyparquet|src\/io\/parquet(-pages)?\.ts|src\/pipeline\/snapshots\.ts/,
  ],
  ['parquet write (parquet-wasm, Arrow)', /^wasm:|node_modules\/(parquet-wasm|apache-arrow)|src\/io\/parquet-write/],
  ['featurize', /src\/features\/(featurize|item-table|spec)\.ts/],
  ['merge and select', /src\/features\/sequence\.ts|src\/pipeline\/embed\.ts/],
  ['output (table items, embedding snapshot)', /src\/pipeline\/embed-(output|writer)|src\/embeddings\//],
  ['module loading (tsx)', /node_modules\/tsx|node:internal\/modules/],
  ['garbage collection', /\(garbage collector\)/],
];
const OTHER = 'other';

function componentOf(url: string, functionName: string): string | undefined {
  if (functionName === '(idle)') return undefined;
  const source = url || `(${functionName})`;
  for (const [name, pattern] of COMPONENTS) if (pattern.test(source)) return name;
  return OTHER;
}

/** CPU seconds by component over every *.cpuprofile in `dir`, counting samples in [from, to] µs. */
export function cpuByComponent(dir: string, fromMicros: number, toMicros: number): Record<string, number> {
  const totals = new Map<string, number>([...COMPONENTS.map(([name]) => [name, 0] as const), [OTHER, 0]]);
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const component = new Map(profile.nodes.map((n) => [n.id, componentOf(n.callFrame.url, n.callFrame.functionName)]));
    let at = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      const delta = profile.timeDeltas[i]!;
      at += delta;
      // a sample's delta is the time since the previous one: the time it stands for
      if (at < fromMicros || at > toMicros) continue;
      const name = component.get(profile.samples[i]!);
      if (name !== undefined) totals.set(name, totals.get(name)! + delta / 1e6);
    }
  }
  return Object.fromEntries(totals);
}
