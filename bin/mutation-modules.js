// The modules `make mutation` mutates (issue 21: where a wrong answer is silent), each with the
// fast test files that cover it. The store's roles are one file each (src/embeddings/*).
export const MODULES = {
  'batch-writer': {
    mutate: ['src/embeddings/batch-writer.ts', 'src/embeddings/retry.ts'],
    tests: ['test/embeddings-faults.test.ts', 'test/embeddings-retry.test.ts'],
  },
  versioning: {
    mutate: ['src/embeddings/version-reader.ts', 'src/embeddings/version-registry.ts'],
    tests: ['test/embeddings-store.test.ts', 'test/embeddings-versions.test.ts'],
  },
  reads: {
    mutate: [
      'src/embeddings/embedding-reader.ts',
      'src/lookup/handler.ts',
      'src/lookup/request.ts',
      'src/lookup/router.ts',
      'src/lookup/version-resolver.ts',
    ],
    tests: [
      'test/lookup.test.ts',
      'test/lookup-reads.test.ts',
      'test/lookup-edges.test.ts',
      'test/embeddings-store.test.ts',
      'test/embeddings-versions.test.ts',
    ],
  },
  gate: {
    mutate: ['src/pipeline/gate.ts'],
    tests: ['test/pipeline-gate.test.ts'],
  },
  routing: {
    mutate: ['src/pipeline/plan.ts', 'src/pipeline/partition.ts'],
    // pipeline-stages also plans and partitions, but embeds with the model in every test: each
    // mutant of plan would run it; plan-routing covers the same paths without embedding.
    tests: ['test/partition-pieces.test.ts', 'test/plan-routing.test.ts', 'test/routing-edges.test.ts'],
  },
};
