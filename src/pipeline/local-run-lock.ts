/**
 * The run lock of a local run (the lock itself is the store's, taken by startRun): who owns it, when
 * a holder's lock may be taken over, and the renewal that keeps it while the run lives.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { RunLock, RunLocks } from '../embeddings/types.ts';

/**
 * The lease (default 5 min), renewed every LOCAL_LOCK_RENEW_MS while the run lives, so a killed
 * run's lock lapses soon. PINNERFORMER_LOCK_LEASE_MS overrides it (the crash tests,
 * docs/reliability.md).
 */
export const LOCAL_LOCK_LEASE_MS = Number(process.env.PINNERFORMER_LOCK_LEASE_MS) || 5 * 60 * 1000;
const LOCAL_LOCK_RENEW_MS = Math.max(1000, Math.floor(LOCAL_LOCK_LEASE_MS / 5));

/** This process's owner name: `local-<host>-<pid>-<8 hex>`. */
export function localLockOwner(): string {
  return `local-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a lock was left by a local run on this host whose process is gone (killed mid-run): a
 * rerun after a crash takes it over at once instead of waiting for the lease. A live holder's is
 * not (startRun's ConflictError: "two runs at once").
 */
export function abandonedLocalLock(holder: RunLock): boolean {
  const m = /^local-(.+)-(\d+)-[0-9a-f]{8}$/.exec(holder.owner);
  return m !== null && m[1] === hostname() && Number(m[2]) !== process.pid && !processAlive(Number(m[2]));
}

/** Renews the owner's lock until the returned stop() (which also releases it). */
export function holdRunLock(
  store: RunLocks,
  version: string,
  owner: string,
  log: (message: string) => void,
): () => Promise<void> {
  const renew = setInterval(() => {
    store
      .acquireRunLock(version, owner, LOCAL_LOCK_LEASE_MS)
      .catch((error) => log(`run lock renewal failed: ${error}`));
  }, LOCAL_LOCK_RENEW_MS);
  renew.unref();
  return async () => {
    clearInterval(renew);
    await store.releaseRunLock(version, owner).catch(() => false);
  };
}
