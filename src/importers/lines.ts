import { createReadStream, type ReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { NotFoundError, ValidationError } from '../util/errors.ts';

/**
 * Opens an input file for streaming; `onBytes` sees every raw chunk (the importers hash the
 * input with it). A missing path or a directory is a clear error.
 */
export async function openInput(path: string, onBytes?: (chunk: Buffer) => void): Promise<ReadStream> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new NotFoundError(`input file ${path} not found`, { path });
  if (!info.isFile()) throw new ValidationError(`input ${path} is not a file`, { path });
  const stream = createReadStream(path);
  if (onBytes) stream.on('data', (chunk) => onBytes(chunk as Buffer));
  return stream;
}

/** Streams a text file line by line (1-based line numbers), so files larger than memory work. */
export async function* readLines(
  path: string,
  onBytes?: (chunk: Buffer) => void,
): AsyncGenerator<{ line: string; lineNumber: number }> {
  const input = await openInput(path, onBytes);
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    yield { line, lineNumber };
  }
}
