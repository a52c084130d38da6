export { assertFinite, COLLAPSE_TOLERANCE, isCollapsed } from './checks.ts';
export { BATCH_DEFAULTS, type EmbeddedBatch, type EmbedderOptions, OnnxEmbedder, planBatches } from './embedder.ts';
export { type ModelManifest, modelManifestSchema, parseModelManifest } from './manifest.ts';
export { MODEL_FILES, type ModelDirectory, readModelDirectory } from './model-dir.ts';
export { openSession, requireGpu, type SessionOptions, sessionOptions } from './session.ts';
