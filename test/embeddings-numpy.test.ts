/**
 * The stored format against numpy (the training package's reader of record): our fp32 -> fp16
 * bytes equal numpy's `astype('<f2')` bit for bit, and the docs' decoding snippet reads them back.
 * Skipped when the training venv is absent (the Makefile's `python` target creates it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeVector, encodeVector } from '../src/embeddings/codec.ts';
import { seededRandom } from './embeddings-helpers.ts';

const PYTHON = 'training/.venv/bin/python';

const SCRIPT = `
import sys, numpy as np
raw = sys.stdin.buffer.read()
values = np.frombuffer(raw, dtype='<f4')
half = values.astype('<f2')
sys.stdout.buffer.write(half.tobytes())
`;

describe.skipIf(!existsSync(PYTHON))('fp16 bytes vs numpy', () => {
  it("match numpy's astype(float16) bit for bit, over the whole fp16 range", () => {
    const random = seededRandom(99);
    const f32 = new Float32Array(20_000);
    const bits = new Uint32Array(f32.buffer);
    for (let i = 0; i < f32.length; i++) {
      const exponent = 97 + Math.floor(random() * 48); // 2^-30 .. 2^17: subnormals to overflow
      bits[i] = ((random() < 0.5 ? 1 : 0) << 31) | (exponent << 23) | Math.floor(random() * 0x800000);
    }
    f32.set([0, -0, 65504, 65519, 65520, 2 ** -25, 2 ** -24, 1 / 3], 0);
    const ours = encodeVector(f32, 'float16');
    const numpy = spawnSync(PYTHON, ['-c', SCRIPT], { input: Buffer.from(f32.buffer), maxBuffer: 1 << 24 });
    expect(numpy.status).toBe(0);
    expect(Buffer.compare(Buffer.from(ours), numpy.stdout)).toBe(0);
  });

  it('decode as the docs say: np.frombuffer(e, "<f2") gives our decoded values', () => {
    const v = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i) / 7);
    const e = encodeVector(v, 'float16');
    const script = `import sys, numpy as np\nvec = np.frombuffer(sys.stdin.buffer.read(), dtype='<f2').astype(np.float32)\nsys.stdout.buffer.write(vec.tobytes())`;
    const numpy = spawnSync(PYTHON, ['-c', script], { input: Buffer.from(e) });
    const decodedByNumpy = new Float32Array(new Uint8Array(numpy.stdout).buffer);
    expect([...decodedByNumpy]).toEqual([...decodeVector(e, 256, 'float16')]);
  });
});
