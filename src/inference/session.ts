import { existsSync } from 'node:fs';
import ort from 'onnxruntime-node';
import type { ExecutionProvider } from '../pipeline/types.ts';
import { ModelError } from '../util/errors.ts';

export interface SessionOptions {
  /** 'cpu' (default) or 'cuda'. CUDA never falls back to the CPU quietly: it fails with ModelError. */
  readonly executionProvider?: ExecutionProvider;
  /** CUDA device; default 0. */
  readonly deviceId?: number;
  /** Intra-op threads; default: onnxruntime's choice (all cores). */
  readonly threads?: number;
}

/** The session options for a provider; for CUDA, CPU fallback of any node is disabled. */
export function sessionOptions(options: SessionOptions): ort.InferenceSession.SessionOptions {
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    interOpNumThreads: 1,
    ...(options.threads === undefined ? {} : { intraOpNumThreads: options.threads }),
  };
  // Idle intra-op threads sleep instead of spinning: several sessions share a machine (one per
  // stage thread, next to I/O threads), and a spinning pool steals their cores and slows whatever
  // runs next on them.
  // Denormals flush to zero: a causal softmax's masked scores come out of the exp kernel as
  // denormal floats (not 0), and every later multiply on them takes a slow microcode path. Results
  // change below 1.2e-38 only. onnxruntime sets it on the pool threads of every session, and on the
  // calling thread for the first session of the process only (a process-wide once), so every
  // session here asks for it. Both were chosen by measurement: rerun the inference bench
  // (reports/bench.md, section 1) before changing either.
  const session = { 'intra_op.allow_spinning': '0', set_denormal_as_zero: '1' };
  if ((options.executionProvider ?? 'cpu') === 'cpu')
    return { ...base, executionProviders: ['cpu'], extra: { session } };
  return {
    ...base,
    executionProviders: [{ name: 'cuda', deviceId: options.deviceId ?? 0 }],
    // Any node the CUDA provider cannot take makes session creation fail instead of running on the CPU.
    extra: { session: { ...session, disable_cpu_ep_fallback: '1' } },
  };
}

/** The ModelError for a session that could not open: CUDA requested but unusable, or an unreadable graph. */
export function sessionOpenError(error: unknown, provider: ExecutionProvider, onnxPath: string): ModelError {
  const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
  if (provider === 'cuda') {
    return new ModelError(
      `the CUDA execution provider was requested but cannot run this model (no quiet CPU fallback): ${reason}`,
      { provider, onnxPath },
      { cause: error },
    );
  }
  return new ModelError(`cannot open ${onnxPath}: ${reason}`, { provider, onnxPath }, { cause: error });
}

/** Opens an ONNX session; a provider that cannot load (e.g. CUDA libraries missing) is a ModelError. */
export async function openSession(onnxPath: string, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(onnxPath, sessionOptions(options));
  } catch (error) {
    throw sessionOpenError(error, options.executionProvider ?? 'cpu', onnxPath);
  }
}

/**
 * For the Batch GPU entrypoint: fails with ModelError unless an NVIDIA device is visible and the
 * CUDA provider opens the given model with CPU fallback disabled.
 */
export async function requireGpu(onnxPath: string, deviceId = 0): Promise<void> {
  if (!existsSync('/dev/nvidiactl') && !existsSync(`/dev/nvidia${deviceId}`)) {
    throw new ModelError('a GPU was required but no NVIDIA device is visible (/dev/nvidia*)', { deviceId });
  }
  const session = await openSession(onnxPath, { executionProvider: 'cuda', deviceId });
  await session.release();
}
