/**
 * Bundles Node entry points into one ES module each (esbuild), so that they start without tsx:
 * under tsx every process and every worker thread transpiles the sources again on start (about
 * 2 CPU seconds a thread here; a bundle loads in a few hundred milliseconds).
 *
 *   node bin/build.js [--out dist]      the Batch container's worker, the demo and the CLI (`make build`)
 *
 * A bundle starts its worker threads from `new URL('./<thread>.mjs', import.meta.url)`, i.e. from
 * its own folder, so the thread entries are always bundled next to it under those names; run from
 * the sources, the same URLs name the tsx shims beside the TypeScript modules.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

/** Worker-thread entries, by the file name the spawning module's URL names (see the modules). */
export const THREAD_ENTRIES: Readonly<Record<string, string>> = {
  'stage-thread': 'src/pipeline/stage-thread.ts',
  'inference-thread': 'src/inference/inference-thread.ts',
  'embed-writer-thread': 'src/pipeline/embed-writer-thread.ts',
};

/** What `make build` emits: the Batch container's entry, the demo's and the CLI's. */
export const DEFAULT_ENTRIES: Readonly<Record<string, string>> = {
  'batch-worker': 'batch-container/main.ts',
  demo: 'bin/demo-main.ts',
  pinnerformer: 'bin/cli-main.ts',
};

/**
 * Left to node_modules at run time: native addons and WebAssembly that load files beside their
 * own module (onnxruntime-node, parquet-wasm, LevelDB under dynalite), and the dev-only loaders.
 */
export const EXTERNAL_PACKAGES: readonly string[] = [
  'onnxruntime-node',
  'parquet-wasm',
  'dynalite',
  'level',
  'classic-level',
  'tsx',
  'esbuild',
];

// CommonJS dependencies call require() for Node's built-ins; an ES module has none of its own.
const BANNER =
  "import { createRequire as __pfCreateRequire } from 'node:module';\nconst require = __pfCreateRequire(import.meta.url);";

export interface BundleOptions {
  /** Output folder; emptied first. */
  readonly outDir: string;
  /** Bundle name (output `<name>.mjs`) -> entry module, relative to `root`. Thread entries are added. */
  readonly entries: Readonly<Record<string, string>>;
  /** Repository root; default the current directory. */
  readonly root?: string;
}

/** Bundles `entries` plus the thread entries into `outDir`; returns the bundles' paths by name. */
export async function buildBundles(options: BundleOptions): Promise<Record<string, string>> {
  const root = resolve(options.root ?? '.');
  const outDir = resolve(options.outDir);
  const all = { ...THREAD_ENTRIES, ...options.entries };
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  await build({
    absWorkingDir: root,
    entryPoints: Object.entries(all).map(([name, entry]) => ({ in: entry, out: name })),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: [...EXTERNAL_PACKAGES],
    banner: { js: BANNER },
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  return Object.fromEntries(Object.keys(all).map((name) => [name, join(outDir, `${name}.mjs`)]));
}
