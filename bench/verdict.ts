/**
 * How a target is judged: MET or MISS by one measured figure against its goal, or RETIRED. Its own
 * module so that the section reports (scale-report.ts) judge their targets the same way as
 * targets.ts without importing it (targets.ts gathers theirs).
 */
import { round } from './stats.ts';
import type { TargetResult } from './types.ts';

/**
 * A target judged by one measured figure against its goal (`atMost` for a ceiling, `strictly` for
 * a goal that must be passed, not just reached). `holds`: a further condition the verdict needs
 * besides the figure (a MISS when false, the ratio still the figure's).
 */
export function judge(spec: {
  readonly name: string;
  readonly target: string;
  readonly measured: string;
  readonly value: number;
  readonly goal: number;
  readonly atMost?: boolean;
  readonly strictly?: boolean;
  readonly holds?: boolean;
  readonly why: (met: boolean) => string;
}): TargetResult {
  const reached = spec.atMost
    ? spec.strictly
      ? spec.value < spec.goal
      : spec.value <= spec.goal
    : spec.strictly
      ? spec.value > spec.goal
      : spec.value >= spec.goal;
  const met = reached && spec.holds !== false;
  // above 1 is met; a goal of 0 (anything above it) has no ratio to speak of: 1 when reached, else 0
  const ratio = spec.atMost
    ? spec.goal / Math.max(spec.value, 1e-9)
    : spec.goal > 0
      ? spec.value / spec.goal
      : reached
        ? 1
        : 0;
  return {
    name: spec.name,
    target: spec.target,
    measured: spec.measured,
    met,
    verdict: met ? 'MET' : 'MISS',
    ratio: round(ratio),
    why: spec.why(met),
  };
}

/** A goal no longer judged: still measured and shown, with the reason it was retired. */
export function retired(spec: {
  readonly name: string;
  readonly target: string;
  readonly measured: string;
  readonly why: string;
}): TargetResult {
  return { ...spec, met: false, verdict: 'RETIRED', ratio: 0 };
}
