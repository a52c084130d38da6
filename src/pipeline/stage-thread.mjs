// Thread entry of the stage thread pool (local runner, Batch lanes): registers tsx (threads do not
// inherit the parent's loader), then hands over to the TypeScript module.
import { register } from 'tsx/esm/api';

register();
await import('./stage-thread.ts');
