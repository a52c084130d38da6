// Entry of an inference thread: registers tsx (threads do not inherit the parent's loader), then
// hands over to the TypeScript module.
import { register } from 'tsx/esm/api';

register();
await import('./inference-thread.ts');
