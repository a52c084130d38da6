import { synthStack } from './cdk-helpers.ts';
const { template } = synthStack(JSON.parse(process.argv[2] ?? '{}'));
const json = template.toJSON();
const want = process.argv[3] ?? 'StateMachineRoleDefaultPolicy';
for (const [id, r] of Object.entries<any>(json.Resources)) if (id.includes(want)) console.log(id, JSON.stringify(r.Properties, null, 1).slice(0, 6000));
