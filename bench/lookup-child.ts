/**
 * The lookup server of the benchmark in its own process (so the load generator does not share
 * its event loop): the embedded table of a data dir behind src/lookup/http-server.ts.
 * Prints {"url": ...} on stdout, serves until stdin closes.
 *   lookup-child.ts <dataDir>
 */
import { openLocalEmbeddings } from '../src/local/local-embeddings.ts';
import { startLookupServer } from '../src/lookup/http-server.ts';

const local = await openLocalEmbeddings({ dataDir: process.argv[2]! });
const server = await startLookupServer({ store: local.store, onError: (error) => console.error(error) });
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  // The load generator stops mid-request; let those lookups finish before the table closes
  // (dynalite throws from an iterator read after close), and never fail on the way out.
  process.on('uncaughtException', () => process.exit(0));
  await new Promise((resolve) => setTimeout(resolve, 2000));
  await server.close().catch(() => undefined);
  await local.close().catch(() => undefined);
  process.exit(0);
});
