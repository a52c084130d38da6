/**
 * Test helpers: a real s3rver on a free loopback port with its data in a temp dir. It runs in a
 * child process started with --openssl-legacy-provider, which s3rver's paged listing needs
 * (its continuation tokens use DES), whatever NODE_OPTIONS the test runner got.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LocalS3 {
  readonly endpoint: string;
  readonly bucket: string;
  close(): Promise<void>;
}

const SERVER_SCRIPT = `
const S3rver = require(process.env.PF_S3RVER_PATH);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.env.PF_S3RVER_DIR,
  configureBuckets: [{ name: process.env.PF_S3RVER_BUCKET }] });
server.run().then((info) => process.stdout.write(JSON.stringify({ port: info.port }) + '\\n'));
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
`;

export async function startLocalS3(bucket = 'test-bucket'): Promise<LocalS3> {
  const directory = await mkdtemp(join(tmpdir(), 'pf-s3rver-'));
  const s3rverPath = createRequire(import.meta.url).resolve('s3rver');
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SERVER_SCRIPT], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      PF_S3RVER_PATH: s3rverPath,
      PF_S3RVER_DIR: directory,
      PF_S3RVER_BUCKET: bucket,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // Never leave the server behind, even when the test process exits without closing it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n')[0];
      if (buffered.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited early with code ${code}`)));
    child.once('error', reject);
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    close: async () => {
      process.off('exit', killOnExit);
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export const localS3Credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
