/**
 * The object store over S3 (or an S3-compatible server such as s3rver in tests). putIfAbsent uses
 * a conditional put (`If-None-Match: *`); a server that ignores the header is detected once with a
 * probe and then served by a check-then-put that is NOT atomic (it says so on stderr once).
 */
import { randomBytes } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { NotFoundError, ValidationError } from '../util/errors.ts';
import { assertKey, assertPrefix, toBytes } from './keys.ts';
import type { ObjectInfo, ObjectStore } from './object-store.ts';

export interface S3ObjectStoreOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket, without leading/trailing '/'; default none. */
  readonly prefix?: string;
  /** A ready client; otherwise one is made from `clientConfig`. */
  readonly client?: S3Client;
  readonly clientConfig?: S3ClientConfig;
  /** 'auto' (default) probes the server once; 'native' trusts If-None-Match; 'emulated' checks then puts. */
  readonly conditionalPuts?: 'auto' | 'native' | 'emulated';
  /** Keys per list page; default 1000 (the S3 maximum). */
  readonly pageSize?: number;
}

/** An S3 client for this project: checksums only when required (s3rver and older S3-compatibles). */
export function createS3Client(config: S3ClientConfig = {}): S3Client {
  return new S3Client({
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(config.endpoint !== undefined && { forcePathStyle: true }),
    ...config,
  });
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404;
}

export class S3ObjectStore implements ObjectStore {
  public readonly root: string;
  public readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;
  private readonly pageSize: number;
  private conditionalPuts: 'auto' | 'native' | 'emulated';
  private probe?: Promise<'native' | 'emulated'>;

  public constructor(options: S3ObjectStoreOptions) {
    if (!options.bucket) throw new ValidationError('S3 bucket must not be empty');
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (this.prefix !== '') assertKey(this.prefix);
    this.client = options.client ?? createS3Client(options.clientConfig);
    this.pageSize = options.pageSize ?? 1000;
    this.conditionalPuts = options.conditionalPuts ?? 'auto';
    this.root = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
  }

  private fullKey(key: string): string {
    assertKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  public async get(key: string): Promise<Uint8Array> {
    const body = await this.getIfExists(key);
    if (body === undefined) throw new NotFoundError(`object ${key} not found in ${this.root}`, { key });
    return body;
  }

  public async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array();
    try {
      const output = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key), Range: `bytes=${start}-${end - 1}` }),
      );
      return output.Body ? await output.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (isNotFound(error)) throw new NotFoundError(`object ${key} not found in ${this.root}`, { key });
      throw error;
    }
  }

  public async getIfExists(key: string): Promise<Uint8Array | undefined> {
    try {
      const output = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }));
      return output.Body ? await output.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** A single PUT is atomic in S3: readers see the old object or the new one. */
  public async put(key: string, body: Uint8Array | string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key), Body: toBytes(body) }));
  }

  public async putIfAbsent(key: string, body: Uint8Array | string): Promise<boolean> {
    const fullKey = this.fullKey(key);
    const mode = this.conditionalPuts === 'auto' ? await this.probeConditionalPuts() : this.conditionalPuts;
    if (mode === 'emulated') {
      if (await this.exists(key)) return false;
      await this.put(key, body);
      return true;
    }
    return this.conditionalPut(fullKey, toBytes(body));
  }

  private async conditionalPut(fullKey: string, body: Uint8Array): Promise<boolean> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: fullKey, Body: body, IfNoneMatch: '*' }));
      return true;
    } catch (error) {
      // 412: the key exists. 409: a concurrent conditional put to the same key is in flight; it wins.
      if (statusOf(error) === 412 || statusOf(error) === 409) return false;
      throw error;
    }
  }

  /** Puts a probe key twice with If-None-Match; a second success means the server ignores it. */
  private probeConditionalPuts(): Promise<'native' | 'emulated'> {
    this.probe ??= (async () => {
      const probeKey = `${this.prefix ? `${this.prefix}/` : ''}.pf-probe/${randomBytes(8).toString('hex')}`;
      try {
        await this.conditionalPut(probeKey, new Uint8Array([1]));
        const second = await this.conditionalPut(probeKey, new Uint8Array([2]));
        const mode = second ? 'emulated' : 'native';
        if (mode === 'emulated') {
          process.stderr.write(
            `warning: ${this.root} ignores If-None-Match; putIfAbsent falls back to a non-atomic check-then-put\n`,
          );
        }
        this.conditionalPuts = mode;
        return mode;
      } finally {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: probeKey })).catch(() => undefined);
      }
    })();
    return this.probe;
  }

  public async list(prefix: string): Promise<ObjectInfo[]> {
    assertPrefix(prefix);
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    const fullPrefix = this.prefix ? `${this.prefix}/${prefix}` : prefix;
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: fullPrefix,
          ContinuationToken: token,
          MaxKeys: this.pageSize,
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        const key = object.Key.slice(strip);
        if (key.startsWith('.pf-probe/')) continue;
        out.push({ key, size: object.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  }

  public async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }));
  }

  public async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }
}
