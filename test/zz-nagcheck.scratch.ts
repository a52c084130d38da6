import { nagReport, synthStack } from './cdk-helpers.ts';
const t0 = Date.now();
const { stack } = synthStack(JSON.parse(process.argv[2] ?? '{}'));
const t1 = Date.now();
const report = nagReport(stack);
for (const v of report.violations) console.log(v.ruleName, v.violatingResources.map((r) => JSON.stringify(r)).join(' | ').slice(0, 600));
console.log('violations', report.violations.length, 'synth ms', t1 - t0, 'nag ms', Date.now() - t1);
