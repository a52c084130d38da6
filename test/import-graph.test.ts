/**
 * The import graph of the TypeScript tree (docs/architecture.md, "Layers"): no circles between
 * modules, type-only imports included; the core library (src/) depends on no wiring (lambdas/,
 * cdk/, bin/) and nothing in the product depends on the benchmark (bench/).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ImportEdge, importCycles, importsOf, REPO_ROOT, sourceFiles } from './code-shape.ts';

const PRODUCT = ['src', 'lambdas', 'batch-container', 'cdk', 'bin'];
const FILES = sourceFiles([...PRODUCT, 'bench']);
const EDGES: ImportEdge[] = FILES.flatMap(importsOf);

const inFolder = (path: string, folders: readonly string[]): boolean =>
  folders.some((folder) => path.startsWith(`${folder}/`));

/** The bench's entry point in bin/ (`npm run bench`) is its launcher, not part of the product. */
const BENCH_LAUNCHER = 'bin/bench.js';

describe('import graph', () => {
  it('parses every relative import to a file that exists', () => {
    expect(EDGES.length).toBeGreaterThan(FILES.length);
    const dangling = EDGES.filter((e) => !existsSync(join(REPO_ROOT, e.to))).map((e) => `${e.from} -> ${e.to}`);
    expect(dangling).toEqual([]);
  });

  it('finds a circle when there is one', () => {
    const circle: ImportEdge[] = [
      { from: 'a.ts', to: 'b.ts', typeOnly: false },
      { from: 'b.ts', to: 'c.ts', typeOnly: true },
      { from: 'c.ts', to: 'a.ts', typeOnly: false },
      { from: 'c.ts', to: 'd.ts', typeOnly: false },
    ];
    expect(importCycles(circle)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    expect(importCycles(circle.slice(0, 2))).toEqual([]);
  });

  it('has no circles between modules, type-only imports included', () => {
    expect(importCycles(EDGES).map((c) => c.join(' '))).toEqual([]);
  });

  it('keeps the core library (src/) free of imports from lambdas/, cdk/, bin/ and bench/', () => {
    const upward = EDGES.filter((e) => e.from.startsWith('src/') && inFolder(e.to, ['lambdas', 'cdk', 'bin', 'bench']));
    expect(upward.map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });

  it('keeps the run contract (src/contract/) on src/util/ and the table schema only', () => {
    const allowed = (to: string): boolean =>
      inFolder(to, ['src/contract', 'src/util']) || to === 'src/embeddings/table-schema.ts';
    const outward = EDGES.filter((e) => e.from.startsWith('src/contract/') && !allowed(e.to));
    expect(outward.map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });

  it('keeps the product free of imports from bench/', () => {
    const intoBench = EDGES.filter(
      (e) => inFolder(e.from, PRODUCT) && e.from !== BENCH_LAUNCHER && inFolder(e.to, ['bench']),
    );
    expect(intoBench.map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });
});
