// The modules `make mutation` mutates (issue 21: where a wrong answer is silent), each with the
// fast test files that cover it. The store's roles are one file each (src/embeddings/*).
export const MODULES = {
  'batch-writer': {
    mutate: ['src/embeddings/batch-writer.ts', 'src/embeddings/retry.ts'],
    tests: ['test/embeddings-faults.test.ts'],
  },
  versioning: {
    mutate: ['src/embeddings/version-reader.ts', 'src/embeddings/version-registry.ts'],
    tests: ['test/embeddings-store.test.ts'],
  },
  reads: {
    mutate: [
      'src/embeddings/embedding-reader.ts',
      'src/lookup/handler.ts',
      'src/lookup/request.ts',
      'src/lookup/router.ts',
      'src/lookup/version-resolver.ts',
    ],
    tests: ['test/lookup.test.ts', 'test/embeddings-store.test.ts'],
  },
  gate: {
    mutate: ['src/pipeline/gate.ts'],
    tests: ['test/pipeline-gate.test.ts'],
  },
  routing: {
    mutate: ['src/pipeline/plan.ts', 'src/pipeline/partition.ts'],
    tests: ['test/partition-pieces.test.ts', 'test/pipeline-stages.test.ts'],
  },
};
