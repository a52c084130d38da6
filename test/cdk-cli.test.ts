/** `pinnerformer aws ...` argument handling, offline: no AWS call is made by these tests. */
import { describe, expect, it } from 'vitest';
import { executionName, MAX_RANGE_DAYS, planRuns, resolveStack } from '../src/cli/aws.ts';
import { buildProgram } from '../src/cli/main.ts';
import { RunRequestSchema } from '../src/contract/messages.ts';
import { NotFoundError, ValidationError } from '../src/util/errors.ts';

describe('aws run flags', () => {
  it('plans one run for --date, optionally a backfill', () => {
    expect(planRuns({ date: '2026-03-01' })).toEqual({ requests: [{ date: '2026-03-01' }], wait: false });
    expect(planRuns({ date: '2026-03-01', backfill: true, wait: true })).toEqual({
      requests: [{ date: '2026-03-01', backfill: true }],
      wait: true,
    });
  });

  it('plans a range as one awaited run per day, in order', () => {
    const plan = planRuns({ from: '2026-02-27', to: '2026-03-02', modelVersion: 'pf-v2' });
    expect(plan.wait).toBe(true);
    expect(plan.requests.map((r) => r.date)).toEqual(['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02']);
    for (const request of plan.requests) expect(RunRequestSchema.parse(request)).toEqual(request);
  });

  it.each([
    [{}, /give --date D, or --from D1 --to D2/],
    [{ date: '2026-03-01', from: '2026-03-01' }, /either --date or --from\/--to/],
    [{ from: '2026-03-01' }, /--from and --to go together/],
    [{ date: '2026-02-30' }, /--date must be an existing day/],
    [{ date: '03/01/2026' }, /--date must be an existing day/],
    [{ from: '2026-03-02', to: '2026-03-01' }, /is after --to/],
    [{ from: '2025-01-01', to: '2026-12-31' }, new RegExp(`at most ${MAX_RANGE_DAYS}`)],
    [{ date: '2026-03-01', modelVersion: 'bad version!' }, /invalid run/],
  ])('refuses %j', (flags, message) => {
    expect(() => planRuns(flags)).toThrow(ValidationError);
    expect(() => planRuns(flags)).toThrow(message);
  });

  it('names executions within Step Functions rules, unique per start', () => {
    const name = executionName({ date: '2026-03-01', backfill: true }, 1_780_000_000_000);
    expect(name).toMatch(/^[\w-]{1,80}$/);
    expect(name).toContain('2026-03-01-backfill');
    expect(executionName({ date: '2026-03-01' }, 1)).not.toBe(executionName({ date: '2026-03-01' }, 2));
  });
});

describe('stack outputs', () => {
  const arn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:DailyRun';

  it('uses the flags without calling CloudFormation when they cover what is needed', async () => {
    const read = async () => {
      throw new Error('must not be called');
    };
    await expect(
      resolveStack({ stack: 'PinnerFormer', stateMachineArn: arn }, ['stateMachineArn'], read),
    ).resolves.toEqual({
      stateMachineArn: arn,
    });
  });

  it('reads missing outputs from the stack and lets flags override them', async () => {
    const read = async () => ({ bucketName: 'from-stack', tableName: 'table-from-stack', stateMachineArn: arn });
    const outputs = await resolveStack(
      { stack: 'PinnerFormer', bucket: 'from-flag' },
      ['bucketName', 'tableName'],
      read,
    );
    expect(outputs.bucketName).toBe('from-flag');
    expect(outputs.tableName).toBe('table-from-stack');
  });

  it('fails clearly when an output is missing or an ARN is malformed', async () => {
    await expect(resolveStack({ stack: 'Other' }, ['stateMachineArn'], async () => ({}))).rejects.toThrow(
      NotFoundError,
    );
    await expect(resolveStack({ stack: 'X', stateMachineArn: 'nope' }, ['stateMachineArn'])).rejects.toThrow(
      /not a state machine ARN/,
    );
  });
});

describe('the command tree', () => {
  it('registers aws run and aws deploy-model with their flags', () => {
    const aws = buildProgram().commands.find((c) => c.name() === 'aws');
    expect(aws).toBeDefined();
    const run = aws!.commands.find((c) => c.name() === 'run')!;
    expect(run.options.map((o) => o.long)).toEqual(
      expect.arrayContaining([
        '--date',
        '--from',
        '--to',
        '--backfill',
        '--model-version',
        '--stack',
        '--state-machine-arn',
      ]),
    );
    const deploy = aws!.commands.find((c) => c.name() === 'deploy-model')!;
    expect(deploy.options.map((o) => o.long)).toEqual(
      expect.arrayContaining(['--bucket', '--table', '--date', '--no-backfill']),
    );
  });

  it('exits with a validation error before any AWS call for bad run flags', async () => {
    // Prepare: capture stderr and the exit code of the real entry point
    const { main } = await import('../src/cli/main.ts');
    const written: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    const previousExit = process.exitCode;
    try {
      // Act
      await main(['node', 'pinnerformer', 'aws', 'run', '--from', '2026-03-05', '--to', '2026-03-01']);
      const runExit = process.exitCode;
      process.exitCode = undefined;
      await main(['node', 'pinnerformer', 'aws', 'rollback', '--to', 'latest']);
      // Assess
      expect(runExit).toBe(2);
      expect(process.exitCode).toBe(2);
      expect(written.join('')).toContain('error [VALIDATION]: --from 2026-03-05 is after --to 2026-03-01');
      expect(written.join('')).toContain('error [VALIDATION]: --to must be modelVersion@YYYY-MM-DD');
    } finally {
      process.stderr.write = original;
      process.exitCode = previousExit;
    }
  });
});
