// The demo's entry: bin/demo.js runs it from the sources through tsx, `make build` bundles it as
// dist/demo.mjs (what `make demo` runs).
import { main } from '../src/cli/demo.ts';

// The AWS SDK warns on every run under Node 20; the demo supports Node >= 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
try {
  await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
