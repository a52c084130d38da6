import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { NotFoundError } from '../util/errors.ts';

/** Streams a text file line by line (1-based line numbers), so files larger than memory work. */
export async function* readLines(path: string): AsyncGenerator<{ line: string; lineNumber: number }> {
  try {
    await stat(path);
  } catch {
    throw new NotFoundError(`input file ${path} not found`, { path });
  }
  const lines = createInterface({
    input: createReadStream(path, { encoding: 'utf8' }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    yield { line, lineNumber };
  }
}
