/**
 * `make build` (bin/build.ts): the bundles the Batch image, `make demo` and the bundled CLI start.
 * The container's own run of its bundle is in batch-worker.test.ts; here, what every bundle holds
 * and that the CLI's starts with no TypeScript loader.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundles, DEFAULT_ENTRIES, EXTERNAL_PACKAGES, THREAD_ENTRIES } from '../bin/build.ts';

describe('make build', () => {
  let outDir: string;
  let bundles: Record<string, string>;

  beforeAll(async () => {
    // Prepare: bundle into the repository's scratch folder, where the externals resolve
    const scratch = join(import.meta.dirname, '..', '.pinnerformer');
    mkdirSync(scratch, { recursive: true });
    outDir = mkdtempSync(join(scratch, 'test-bundle-'));
    bundles = await buildBundles({ outDir, entries: DEFAULT_ENTRIES });
  }, 60_000);
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('emits every entry with the worker threads it starts beside it, under the names the sources use', () => {
    expect(Object.keys(bundles).sort()).toEqual(
      [...Object.keys(DEFAULT_ENTRIES), ...Object.keys(THREAD_ENTRIES)].sort(),
    );
    for (const path of Object.values(bundles)) expect(existsSync(path), path).toBe(true);
    // each spawning module names its thread as `./<name>.mjs` next to itself
    for (const [name, source] of Object.entries(THREAD_ENTRIES)) {
      const spawner = {
        'stage-thread': 'stage-thread-pool',
        'inference-thread': 'thread-session',
        'embed-writer-thread': 'embed-writer',
      }[name]!;
      const dir = source.slice(0, source.lastIndexOf('/'));
      expect(readFileSync(join(import.meta.dirname, '..', dir, `${spawner}.ts`), 'utf8')).toContain(`'./${name}.mjs'`);
      expect(existsSync(join(import.meta.dirname, '..', dir, `${name}.mjs`)), `the tsx shim ${dir}/${name}.mjs`).toBe(
        true,
      );
    }
  });

  it('leaves only the native and WebAssembly packages to node_modules, and never loads tsx', () => {
    const packagesOf = new Map<string, Set<string>>();
    for (const [name, path] of Object.entries(bundles)) {
      // esbuild writes its import statements at the start of a line, with double quotes
      const code = readFileSync(path, 'utf8');
      const imported = new Set(
        [...code.matchAll(/^(?:import|export)\s(?:[^;]*?\sfrom\s*)?"([^"]+)";|\bimport\("([^"]+)"\)/gm)]
          .map((m) => m[1] ?? m[2]!)
          .filter((spec) => !isBuiltin(spec) && !spec.startsWith('.')),
      );
      const packages = new Set(
        [...imported].map((spec) =>
          (spec.startsWith('@') ? spec.split('/').slice(0, 2) : spec.split('/').slice(0, 1)).join('/'),
        ),
      );
      packagesOf.set(name, packages);
      for (const pkg of packages) expect(EXTERNAL_PACKAGES, `${name} imports ${pkg}`).toContain(pkg);
      expect(packages.has('tsx'), name).toBe(false);
    }
    // what the container's runtime stage must install, and no more
    expect([...packagesOf.get('batch-worker')!].sort()).toEqual(['onnxruntime-node', 'parquet-wasm']);
    expect([...packagesOf.get('inference-thread')!]).toEqual(['onnxruntime-node']);
  });

  it('starts the bundled CLI as plain node, validating its flags as the sources do', () => {
    // Act: a bad flag, so nothing runs past validation
    const run = spawnSync(process.execPath, [bundles.pinnerformer!, 'daily', '--date', '2026-02-30'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    // Assess
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--date: expected an existing day as YYYY-MM-DD/);
  });
});
