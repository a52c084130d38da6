// The Batch image, as far as it can be checked without Docker: what it installs (only the
// packages the bundled worker leaves to node_modules, at the root lock's versions), how its CUDA
// provider step behaves (batch-container/install-providers.sh, run for real on a stand-in package),
// the Dockerfile's structure, and the pinned-image path of the CDK config.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { buildBundles, DEFAULT_ENTRIES, EXTERNAL_PACKAGES } from '../bin/build.ts';
import { parseDeploymentConfig } from '../cdk/config.ts';
import { IMAGE_CONTEXT_EXCLUDE } from '../cdk/constructs/embed-batch.ts';
import { runNode } from '../src/testing/crash-harness.ts';

const root = join(import.meta.dirname, '..');
const readJson = (path: string) => JSON.parse(readFileSync(join(root, path), 'utf8'));
const rootPackage = readJson('package.json');
const rootLock = readJson('package-lock.json');
const imagePackage = readJson('batch-container/package.json');
const imageLock = readJson('batch-container/package-lock.json');
const dockerfile = readFileSync(join(root, 'batch-container', 'Dockerfile'), 'utf8');

/** Packages only the deploy (CDK) and the local run (dynalite, tsx) need: none belongs in the image. */
const DEPLOY_AND_LOCAL_PACKAGES = [
  'aws-cdk-lib',
  'aws-cdk',
  'constructs',
  'cdk-nag',
  'dynalite',
  'level',
  'classic-level',
  'tsx',
  'esbuild',
];

/**
 * Bare package names a bundle loads at run time: its import statements and dynamic imports, and
 * require() of an external package (Node's built-ins left out).
 */
function importedPackages(source: string): Set<string> {
  const specifiers = [
    ...source.matchAll(/^\s*(?:import|export)\b[^;"'`]*?\bfrom\s*["']([^"'./][^"']*)["']/gm),
    ...source.matchAll(/^\s*import\s*["']([^"'./][^"']*)["']/gm),
    ...source.matchAll(/\bimport\(\s*["']([^"'./][^"']*)["']\s*\)/g),
    ...[...source.matchAll(/\brequire\(\s*["']([^"'./][^"']*)["']\s*\)/g)].filter((m) =>
      EXTERNAL_PACKAGES.includes(m[1]!.split('/')[0]!),
    ),
  ].map((m) => m[1]!);
  const builtins = new Set(builtinModules);
  return new Set(
    specifiers
      .filter((s) => !s.startsWith('node:') && !builtins.has(s.split('/')[0]!))
      .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!)),
  );
}

describe('the image installs only what the bundled worker loads', () => {
  it('keeps deploy-time and local-only packages out of the image and out of the root runtime dependencies', () => {
    const imageDeps = Object.keys(imagePackage.dependencies);
    expect(imageDeps.sort()).toEqual(['onnxruntime-node', 'parquet-wasm']);
    for (const name of DEPLOY_AND_LOCAL_PACKAGES) {
      expect(imageDeps).not.toContain(name);
      expect(Object.keys(imageLock.packages)).not.toContain(`node_modules/${name}`);
    }
    // The CDK app is deploy-time: `npm ci` (CI, make) installs it, `npm ci --omit=dev` does not.
    for (const name of ['aws-cdk-lib', 'constructs', 'cdk-nag']) {
      expect(rootPackage.dependencies[name], name).toBeUndefined();
      expect(rootPackage.devDependencies[name], name).toBeDefined();
    }
  });

  it('pins each image package at the root lock version and integrity, its own dependencies included', () => {
    for (const [name, range] of Object.entries(imagePackage.dependencies as Record<string, string>)) {
      const locked = rootLock.packages[`node_modules/${name}`];
      expect(range, `${name}: exact version, equal to the root lock (npm ci in the image)`).toBe(locked.version);
    }
    const entries = Object.entries(imageLock.packages as Record<string, { version?: string; integrity?: string }>);
    expect(entries.length).toBeGreaterThan(2);
    for (const [path, entry] of entries) {
      if (path === '') continue;
      const rootEntry = rootLock.packages[path] as { version: string; integrity: string } | undefined;
      expect(rootEntry, `${path} is in the root lock`).toBeDefined();
      expect({ path, version: entry.version, integrity: entry.integrity }).toEqual({
        path,
        version: rootEntry!.version,
        integrity: rootEntry!.integrity,
      });
    }
  });

  it('bundles every other package: the worker and its threads import only the image packages', async () => {
    // Prepare: the bundles the Dockerfile builds, in a folder whose node_modules holds only the image's packages
    const scratch = join(root, '.pinnerformer');
    mkdirSync(scratch, { recursive: true });
    const dir = mkdtempSync(join(scratch, 'image-bundle-'));
    try {
      const bundles = await buildBundles({
        outDir: join(dir, 'dist'),
        entries: { 'batch-worker': DEFAULT_ENTRIES['batch-worker']! },
      });
      mkdirSync(join(dir, 'node_modules'));
      for (const name of Object.keys(imagePackage.dependencies)) {
        symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name), 'dir');
      }
      // Act: scan what each bundle imports, then start the worker with an empty environment
      const imported = new Set(
        Object.values(bundles).flatMap((path) => [...importedPackages(readFileSync(path, 'utf8'))]),
      );
      const run = await runNode(bundles['batch-worker']!, [], {
        env: { NODE_OPTIONS: '', RUN_DATE: '', POWERTOOLS_METRICS_DISABLED: 'true' },
        timeoutMs: 60_000,
      });
      // Assess: every import is an image package (and external, so esbuild left it); the worker
      // loads with that node_modules and refuses the empty environment by name (exit 2)
      expect(imported.size).toBeGreaterThan(0);
      for (const name of imported) {
        expect(Object.keys(imagePackage.dependencies), `${name} is imported by a bundle`).toContain(name);
        expect(EXTERNAL_PACKAGES).toContain(name);
      }
      expect(run.stderr + run.stdout).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (package|module)/);
      expect(run.code, run.stderr + run.stdout).toBe(2);
      expect(run.stdout + run.stderr).toMatch(/invalid worker environment: .*RUN_DATE/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('the CLI runs without the deploy-time packages (npm ci --omit=dev)', () => {
  it('reaches no module of aws-cdk-lib, constructs or cdk-nag from bin/cli-main.ts', async () => {
    // esbuild follows every static and dynamic import the CLI can load, as its bundle does
    const result = await build({
      absWorkingDir: root,
      entryPoints: [DEFAULT_ENTRIES.pinnerformer!],
      bundle: true,
      platform: 'node',
      format: 'esm',
      external: [...EXTERNAL_PACKAGES],
      metafile: true,
      write: false,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((path) => path.startsWith('src/cli/aws-operate.ts'))).toBe(true);
    const deployTime = inputs.filter((path) => /node_modules\/(aws-cdk-lib|constructs|cdk-nag)\//.test(path));
    expect(deployTime).toEqual([]);
    expect(inputs.filter((path) => path.startsWith('cdk/'))).toEqual([]);
  }, 120_000);
});

describe('batch-container/install-providers.sh (the image build step for the CUDA provider)', () => {
  const script = join(root, 'batch-container', 'install-providers.sh');
  const PROVIDERS = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'];

  /** A stand-in onnxruntime-node package: every platform's binaries, and an installer given as source. */
  function fakeOrtPackage(installer: string): { ort: string; providers: string; bin: string } {
    const dir = mkdtempSync(join(tmpdir(), 'pf-providers-'));
    const ort = join(dir, 'onnxruntime-node');
    writeFileSync(join(dir, 'package.json'), '{}');
    mkdirSync(join(ort, 'script'), { recursive: true });
    writeFileSync(join(ort, 'package.json'), '{\n  "name": "onnxruntime-node",\n  "version": "1.30.0"\n}\n');
    for (const platform of ['darwin/arm64', 'win32/x64', 'linux/arm64', 'linux/x64']) {
      const bin = join(ort, 'bin', 'napi-v6', platform);
      mkdirSync(bin, { recursive: true });
      writeFileSync(join(bin, 'onnxruntime_binding.node'), 'binding');
    }
    writeFileSync(join(ort, 'script', 'install.js'), installer);
    const providers = join(dir, 'ort-providers');
    mkdirSync(providers);
    return { ort, providers, bin: join(ort, 'bin', 'napi-v6', 'linux', 'x64') };
  }

  const run = (...args: string[]) => spawnSync('sh', [script, ...args], { encoding: 'utf8' });
  const FAILED_DOWNLOAD =
    "console.error('Failed to download the NuGet package: getaddrinfo ENOTFOUND api.nuget.org'); process.exit(1);";
  // What onnxruntime-node's installer does for cuda12: the three files of the NuGet package, TensorRT's included
  const DOWNLOAD = `
    const { writeFileSync } = require('node:fs');
    const { join } = require('node:path');
    if (process.env.ONNXRUNTIME_NODE_INSTALL !== 'cuda12') process.exit(9);
    const bin = join(__dirname, '..', 'bin', 'napi-v6', 'linux', 'x64');
    for (const f of ['cuda', 'shared', 'tensorrt']) writeFileSync(join(bin, 'libonnxruntime_providers_' + f + '.so'), 'downloaded');`;

  it('takes both libraries from the local directory, keeps linux/x64 only and leaves TensorRT out', () => {
    const { ort, providers, bin } = fakeOrtPackage(`${FAILED_DOWNLOAD} // never called`);
    for (const file of [...PROVIDERS, 'libonnxruntime_providers_tensorrt.so'])
      writeFileSync(join(providers, file), 'local');
    const result = run(ort, providers);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/from .*ort-providers/);
    expect(readdirSync(join(ort, 'bin', 'napi-v6'))).toEqual(['linux']);
    expect(readdirSync(join(ort, 'bin', 'napi-v6', 'linux'))).toEqual(['x64']);
    expect(readdirSync(bin).sort()).toEqual([
      'libonnxruntime_providers_cuda.so',
      'libonnxruntime_providers_shared.so',
      'onnxruntime_binding.node',
    ]);
    for (const file of PROVIDERS) expect(readFileSync(join(bin, file), 'utf8')).toBe('local');
  });

  it('downloads with ONNXRUNTIME_NODE_INSTALL=cuda12 when the directory is empty, then drops TensorRT', () => {
    const { ort, providers, bin } = fakeOrtPackage(DOWNLOAD);
    const result = run(ort, providers);
    expect(result.status, result.stderr).toBe(0);
    expect(existsSync(join(bin, 'libonnxruntime_providers_tensorrt.so'))).toBe(false);
    for (const file of PROVIDERS) expect(readFileSync(join(bin, file), 'utf8')).toBe('downloaded');
  });

  it('fails the build, saying both ways out, when the download fails and the directory is empty', () => {
    const { ort, providers } = fakeOrtPackage(FAILED_DOWNLOAD);
    const result = run(ort, providers);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/CUDA 12 execution provider \(libonnxruntime_providers_cuda\.so\) is missing/);
    expect(result.stderr).toMatch(/api\.nuget\.org/);
    expect(result.stderr).toMatch(/Microsoft\.ML\.OnnxRuntime\.Gpu\.Linux 1\.30\.0/);
    expect(result.stderr).toMatch(/batch-container\/ort-providers\//);
  });

  it('refuses a directory with one of the two libraries, and bad arguments', () => {
    const { ort, providers } = fakeOrtPackage(DOWNLOAD);
    writeFileSync(join(providers, PROVIDERS[0]!), 'local');
    const partial = run(ort, providers);
    expect(partial.status).toBe(1);
    expect(partial.stderr).toMatch(/holds only one of/);
    expect(run().status).toBe(64);
    expect(run(join(ort, 'nope'), providers).stderr).toMatch(/^usage: install-providers\.sh/);
  });
});

describe('batch-container/Dockerfile (static checks; it cannot be built here)', () => {
  const args = Object.fromEntries(
    [...dockerfile.matchAll(/^ARG\s+(\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const),
  );
  const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);

  it('pins both base images by digest, in ARGs the FROM lines use', () => {
    expect(args.NODE_IMAGE).toMatch(/^node:22-bookworm-slim@sha256:[0-9a-f]{64}$/);
    // CUDA 12 images tagged "cudnn" (12.4 and later) carry cuDNN 9
    expect(args.CUDA_IMAGE).toMatch(
      /^nvidia\/cuda:12\.([4-9]|\d\d)\.\d+-cudnn-runtime-ubuntu\d+\.\d+@sha256:[0-9a-f]{64}$/,
    );
    const arg = (name: string) => `\${${name}}`;
    expect(froms).toEqual([arg('NODE_IMAGE'), arg('NODE_IMAGE'), arg('CUDA_IMAGE')]);
    // the ARGs come before the first FROM, so that every FROM sees them
    expect(dockerfile.indexOf('ARG CUDA_IMAGE')).toBeLessThan(dockerfile.indexOf('FROM '));
  });

  it('installs the image packages with their own lock and gets the CUDA provider through install-providers.sh', () => {
    expect(dockerfile).toMatch(/COPY batch-container\/package\.json batch-container\/package-lock\.json \.\//);
    expect(dockerfile).toMatch(/RUN npm ci --omit=dev --ignore-scripts/);
    expect(dockerfile).toMatch(/RUN sh install-providers\.sh node_modules\/onnxruntime-node ort-providers/);
    // the final stage carries node_modules from that stage, Node's binary, and no npm
    const final = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(final).toMatch(/COPY --from=runtime-packages \/app\/node_modules \.\/node_modules/);
    expect(final).not.toMatch(/npm|\/usr\/local\/lib\/node_modules|tensorrt/i);
    expect(final).toMatch(/ENTRYPOINT \["node", "dist\/batch-worker\.mjs"\]/);
    const user = [...final.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]).at(-1);
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    // the bundle the build stage makes (bin/build.ts), started with no TypeScript loader
    expect(dockerfile).toMatch(/RUN node bin\/build\.js --out dist --entry batch-worker/);
    expect(final).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
  });

  it('copies only paths that exist and that the CDK asset and .dockerignore both send', () => {
    const ignore = readFileSync(join(root, 'batch-container', 'Dockerfile.dockerignore'), 'utf8')
      .trim()
      .split('\n');
    expect(ignore).toEqual(IMAGE_CONTEXT_EXCLUDE);
    // CDK runs `docker build -f batch-container/Dockerfile` in the staged context: it must be sent
    expect(IMAGE_CONTEXT_EXCLUDE).toContain('!batch-container/Dockerfile');
    const sources = [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)].flatMap((m) =>
      m[1]!.trim().split(/\s+/),
    );
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      expect(existsSync(join(root, source)), source).toBe(true);
      const included = IMAGE_CONTEXT_EXCLUDE.some((p) => p === `!${source}` || p === `!${source}/**`);
      expect(included, `${source} is sent in the build context`).toBe(true);
    }
    // the providers folder exists in a fresh clone (COPY needs it) and never commits the libraries
    expect(readFileSync(join(root, 'batch-container', 'ort-providers', '.gitignore'), 'utf8')).toMatch(/^\*\.so$/m);
    expect(existsSync(join(root, 'batch-container', 'ort-providers', 'README.md'))).toBe(true);
  });
});

describe('a pre-built image instead of the CDK asset (-c imageUri=...)', () => {
  const digest = `sha256:${'ab'.repeat(32)}`;

  it('accepts an image pinned by digest, with or without a tag', () => {
    for (const uri of [
      `123456789012.dkr.ecr.eu-west-1.amazonaws.com/pinnerformer@${digest}`,
      `123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/pinnerformer:1.2.3@${digest}`,
      `registry.example.com:5000/pinnerformer@${digest}`,
    ]) {
      expect(parseDeploymentConfig({ imageUri: uri }).imageUri).toBe(uri);
    }
  });

  it('refuses a tag alone, naming the digest form and how to get it', () => {
    for (const uri of [
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com/pinnerformer:1.2.3',
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com/pinnerformer:latest',
      'pinnerformer',
      `123456789012.dkr.ecr.eu-west-1.amazonaws.com/pinnerformer@sha256:${'ab'.repeat(31)}`,
    ]) {
      expect(() => parseDeploymentConfig({ imageUri: uri }), uri).toThrow(/imageUri: .*pinned by digest.*@sha256:/);
    }
  });
});
