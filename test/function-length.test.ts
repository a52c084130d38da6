/**
 * No function in the product over about 80 lines unless a `// long: <why>` comment just above it
 * says why (docs/architecture.md, "Code shape"). Nested functions count inside their parent too.
 */
import { describe, expect, it } from 'vitest';
import { functionSpans, sourceFiles } from './code-shape.ts';

const MAX_LINES = 80;
const SPANS = sourceFiles(['src', 'lambdas', 'batch-container', 'cdk']).flatMap((file) => functionSpans(file));

describe('function length', () => {
  it('measures functions, methods, constructors and arrow functions', () => {
    const names = new Set(SPANS.map((s) => s.name));
    expect(SPANS.length).toBeGreaterThan(500);
    expect(names).toContain('constructor');
    expect(SPANS.every((s) => s.lines >= 1)).toBe(true);
  });

  it(`allows a function over ${MAX_LINES} lines only with a reason beside it`, () => {
    const unexplained = SPANS.filter((s) => s.lines > MAX_LINES)
      .filter((s) => !s.reason)
      .map((s) => `${s.at} ${s.name} (${s.lines} lines)`);
    expect(unexplained).toEqual([]);
  });

  it('reads the reason just above a function, an arrow function or a method', () => {
    const body = Array.from({ length: 3 }, (_, i) => `  const v${i} = ${i};`).join('\n');
    const text = [
      '// long: one table of cases, read top to bottom',
      `export function withReason(): void {\n${body}\n}`,
      `function without(): void {\n${body}\n}`,
      '/** Doc. */\n// long: a state machine in one place',
      `const arrow = (): void => {\n${body}\n};`,
      `class C {\n  // long: the constructor wires the parts\n  constructor() {\n${body}\n  }\n}`,
    ].join('\n');
    const spans = new Map(functionSpans('x.ts', text).map((s) => [s.name, s]));
    expect(spans.get('withReason')).toMatchObject({ lines: 5, reason: 'one table of cases, read top to bottom' });
    expect(spans.get('without')?.reason).toBeUndefined();
    expect(spans.get('arrow')?.reason).toBe('a state machine in one place');
    expect(spans.get('constructor')?.reason).toBe('the constructor wires the parts');
  });

  it('takes a reason only when it says something', () => {
    const empty = SPANS.filter((s) => s.reason !== undefined && (s.reason.length < 10 || /\bTODO\b/i.test(s.reason)));
    expect(empty.map((s) => `${s.at} ${s.name}: "${s.reason}"`)).toEqual([]);
  });
});
