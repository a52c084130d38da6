/**
 * The Lambda bundles as `cdk synth` builds them (same esbuild settings, from
 * cdk/constructs/stage-function.ts): each bundles, loads as ESM outside the repository, and
 * runs its handler far enough to validate an event. No bundle carries onnxruntime's native binding.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BUNDLE_ALIASES,
  BUNDLE_BANNER,
  BUNDLE_EXTERNALS,
  PARQUET_WASM,
  REPO_ROOT,
} from '../cdk/constructs/stage-function.ts';

const out = mkdtempSync(join(tmpdir(), 'pf-bundles-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const bundles = new Map<string, Promise<string>>();
const bundle = (name: string): Promise<string> => {
  if (!bundles.has(name)) bundles.set(name, bundleOnce(name));
  return bundles.get(name)!;
};

async function bundleOnce(name: string): Promise<string> {
  const dir = join(out, name);
  await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: [join(REPO_ROOT, 'lambdas', `${name}.ts`)],
    outfile: join(dir, 'index.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    keepNames: true,
    banner: { js: BUNDLE_BANNER },
    alias: { ...BUNDLE_ALIASES },
    external: [...BUNDLE_EXTERNALS],
    logLevel: 'silent',
  });
  // as the stack ships them: the lookup function gets no Parquet WebAssembly (it never reads Parquet)
  if (name !== 'lookup') copyFileSync(PARQUET_WASM, join(dir, 'parquet_wasm_bg.wasm'));
  return join(dir, 'index.mjs');
}

describe('Lambda bundles', () => {
  it.each(['plan', 'partition', 'publish', 'lookup'])(
    '%s bundles without onnxruntime and exports a handler',
    async (name) => {
      // Act
      const file = await bundle(name);
      const module = (await import(pathToFileURL(file).href)) as { handler: unknown };
      // Assess
      expect(typeof module.handler).toBe('function');
      expect(readFileSync(file, 'utf8')).not.toContain('onnxruntime_binding');
    },
  );

  it('ships the lookup bundle without parquet-wasm, which it never loads', async () => {
    const file = await bundle('lookup');
    expect(readFileSync(file, 'utf8')).not.toContain('parquet_wasm_bg');
  });

  it('runs a bundled handler: errors keep their names, which the state machine retries match on', async () => {
    const file = await bundle('partition');
    // quiet: no log lines, and no EMF line for the failure metric on the test's stdout
    const previous = { log: process.env.POWERTOOLS_LOG_LEVEL, metrics: process.env.POWERTOOLS_METRICS_DISABLED };
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    const { handler } = (await import(`${pathToFileURL(file).href}?run`)) as {
      handler: (event: unknown) => Promise<unknown>;
    };
    try {
      await expect(handler({ date: 'not-a-date', modelVersion: 'm', slice: 0 })).rejects.toMatchObject({
        name: 'ValidationError',
        message: expect.stringContaining('date'),
      });
    } finally {
      for (const [name, value] of [
        ['POWERTOOLS_LOG_LEVEL', previous.log],
        ['POWERTOOLS_METRICS_DISABLED', previous.metrics],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
