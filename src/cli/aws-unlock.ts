/**
 * `pinnerformer aws unlock --date D [--model-version MV]`: clears a run lock its execution left
 * behind (an execution stopped by hand skips the state machine's own release). Refuses while the
 * owning execution still runs; deletes only the lock it read (conditional on its owner).
 */
import { DescribeExecutionCommand, ExecutionDoesNotExist, type SFNClient } from '@aws-sdk/client-sfn';
import { ConflictError } from '../util/errors.ts';
import type { RunLocks } from './aws-cancel.ts';

/** The ARN of execution `name` of the state machine `stateMachineArn`. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

export type UnlockOutcome = 'released' | 'no-lock' | 'changed';

export async function unlockRun(
  clients: { readonly sfn: SFNClient; readonly locks: RunLocks },
  stateMachineArn: string,
  version: string,
  log: (line: string) => void,
): Promise<UnlockOutcome> {
  const lock = await clients.locks.getRunLock(version);
  if (!lock) {
    log(`no run lock for ${version}: nothing to clear`);
    return 'no-lock';
  }
  const executionArn = executionArnOf(stateMachineArn, lock.owner);
  let status = 'not an execution of this state machine';
  try {
    const described = await clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
    status = described.status ?? 'UNKNOWN';
  } catch (error) {
    if (!(error instanceof ExecutionDoesNotExist)) throw error;
  }
  if (status === 'RUNNING') {
    throw new ConflictError(
      `run lock ${version} is held by execution ${lock.owner}, which is still running; stop it with \`pinnerformer aws cancel --date ${version.split('@').at(-1)}\` (that also releases the lock)`,
      { version, owner: lock.owner, executionArn },
    );
  }
  const released = await clients.locks.releaseRunLock(version, lock.owner);
  log(
    released
      ? `released run lock ${version} (owner ${lock.owner}: ${status}, lease until ${new Date(lock.expiresAt).toISOString()})`
      : `run lock ${version} changed hands while reading it; left as is (run \`pinnerformer aws status\`)`,
  );
  return released ? 'released' : 'changed';
}
