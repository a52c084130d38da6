// The container's entry (bundled as dist/batch-worker.mjs by `make build`; see the Dockerfile):
// embeds this array child's partitions and exits with the code Batch retries on (worker.ts).
import { main } from './worker.ts';

process.exitCode = await main();
