#!/usr/bin/env node
// `npm run bench`: runs the TypeScript benchmark (bench/main.ts) through tsx, like bin/pinnerformer.js.
import { register } from 'tsx/esm/api';

// The AWS SDK's Node 20 notice is noise in a benchmark log.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../bench/main.ts');
await main(process.argv);
