// Worker-thread entry of the local runner: registers tsx (workers do not inherit the parent's
// loader), then hands over to the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./stage-worker.ts');
