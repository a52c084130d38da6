// The modules `make mutation` mutates (issue 21: where a wrong answer is silent), each with the
// fast test files that cover it. src/embeddings/dynamo-store.ts is split by its section markers
// (`// ----- versions`), found when the config loads, so the split survives edits to the file.
import { readFileSync } from 'node:fs';

const STORE = 'src/embeddings/dynamo-store.ts';

/**
 * `file:first-last` from the line of section marker `from` to the line before marker `to` (or
 * the end of the file without `to`), the range syntax of Stryker's `mutate`.
 */
export function sectionRange(file, from, to) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const marker = (name) => {
    const index = lines.findIndex((line) => new RegExp(`^\\s*// -+ ${name}$`).test(line));
    if (index < 0) throw new Error(`${file} has no "// ---- ${name}" section marker`);
    return index + 1;
  };
  const first = marker(from);
  const last = to === undefined ? lines.findLastIndex((line) => line.trim() !== '') + 1 : marker(to) - 1;
  return `${file}:${first}-${last}`;
}

export const MODULES = {
  'batch-writer': {
    mutate: ['src/embeddings/batch-writer.ts', 'src/embeddings/retry.ts'],
    tests: ['test/embeddings-faults.test.ts', 'test/embeddings-retry.test.ts'],
  },
  versioning: {
    mutate: [sectionRange(STORE, 'versions', 'run lock')],
    tests: ['test/embeddings-store.test.ts', 'test/embeddings-versions.test.ts'],
  },
  reads: {
    mutate: [sectionRange(STORE, 'reads'), 'src/lookup/handler.ts', 'src/lookup/request.ts'],
    tests: [
      'test/lookup.test.ts',
      'test/lookup-reads.test.ts',
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
    tests: ['test/partition-pieces.test.ts', 'test/plan-routing.test.ts'],
  },
};
