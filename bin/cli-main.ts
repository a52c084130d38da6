// The `pinnerformer` CLI's entry: bin/pinnerformer.js runs it from the sources through tsx,
// `make build` bundles it as dist/pinnerformer.mjs.
import { main } from '../src/cli/main.ts';

// The AWS SDK warns on every run under Node 20; the CLI supports Node >= 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
await main(process.argv);
