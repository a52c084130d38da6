/**
 * "Write only what changed": the embed stage skips a user's table write when the embedding the
 * reader already gets (the stored one, which the embedding snapshot holds) is within `minCosine`
 * of the new one. The reader then keeps getting the stored item (docs/versioning.md, "Daily
 * merge"), and the snapshots keep its vector and date, so the next day compares against what is
 * served, not against a vector that was never written.
 *
 * The refresh-age rule still holds: a write is skipped only while the stored item is younger than
 * `refreshAgeDays`, so once it reaches that age the refresh re-embeds the user and the write is
 * forced. Every user's served item is therefore at most `refreshAgeDays` old at each published
 * date, as without the policy, and `refreshAgeDays + 1 < retentionDays` keeps it from expiring.
 */

import { WRITE_SKIP_COSINE } from '../contract/run-contract.ts';
import type { VersionReader } from '../embeddings/types.ts';
import { DAY_MS, dayStartMs } from '../events/schema.ts';
import { ValidationError } from '../util/errors.ts';

/**
 * The threshold the bench measured as free (reports/bench.md, "Write policy"): for dense all
 * action, the one with the largest saving whose Recall@10 of the served embeddings stays within
 * one standard error of writing every user (training/pinnerformer/write_policy.py). Local runs use
 * a threshold only when asked; the stack's default (cdk/config.ts writeSkipCosine) is this one.
 */
export const DEFAULT_SKIP_COSINE = WRITE_SKIP_COSINE.default;

/** Plain data (posted to the writer thread). */
export interface WritePolicy {
  /** Skip when cos(new, stored) >= minCosine. */
  readonly minCosine: number;
  /** The run's date. */
  readonly date: string;
  /** A stored item this many days old or older is always rewritten. */
  readonly refreshAgeDays: number;
  /**
   * Dates of this model whose items readers see (published, not withdrawn, first attempt: keyed by
   * the bare date): only those may be kept.
   */
  readonly visibleDates: readonly string[];
}

/** Validates a threshold from configuration: a cosine in (0, 1]. */
export function assertSkipCosine(value: number): number {
  if (!Number.isFinite(value) || value <= 0 || value > 1) {
    throw new ValidationError(
      `writeSkipCosine must be a cosine in (0, 1] (1 skips only identical vectors), got ${value}`,
      { writeSkipCosine: value },
    );
  }
  return value;
}

/** What the write policy is decided from: the run manifest's fields. */
export interface WritePolicyRun {
  readonly date: string;
  readonly modelVersion: string;
  readonly backfill: boolean;
  readonly refreshAgeDays: number;
  readonly writeSkipCosine?: number;
  /** The plan's writePolicyDates (RunManifest). */
  readonly writePolicyDates?: readonly string[];
}

/**
 * Decided by the plan stage, which reads the versions: the dates whose items may keep serving
 * (WritePolicy.visibleDates), or undefined when every embedded user is written (no threshold, or
 * a backfill, which rewrites everyone on purpose). The run manifest carries them to the embed
 * stage, whose only table access is writing items (src/contract/table-access.ts).
 */
export async function writePolicyDates(
  versions: VersionReader,
  run: Omit<WritePolicyRun, 'writePolicyDates'>,
): Promise<string[] | undefined> {
  if (run.writeSkipCosine === undefined || run.backfill) return undefined;
  // A date republished by a rerun (items keyed `date#attempt`) is left out: the snapshot's vector of
  // that date may come from the attempt it replaced, so only a write is sure to match what is served.
  return (await versions.listVersions())
    .filter(
      (v) =>
        v.modelVersion === run.modelVersion &&
        v.published &&
        v.withdrawn !== true &&
        v.attempt === undefined &&
        v.date < run.date,
    )
    .map((v) => v.date);
}

/**
 * The run's policy, from its manifest; undefined when every embedded user is written (no
 * threshold, or a backfill). A manifest planned without the dates keeps nothing: every user is written.
 */
export function writePolicyOf(run: WritePolicyRun): WritePolicy | undefined {
  if (run.writeSkipCosine === undefined || run.backfill) return undefined;
  return {
    minCosine: assertSkipCosine(run.writeSkipCosine),
    date: run.date,
    refreshAgeDays: run.refreshAgeDays,
    visibleDates: run.writePolicyDates ?? [],
  };
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / (Math.sqrt(na * nb) || 1);
}

/** Decides per user; `visible` caches the policy's dates as a set. */
export class WriteDecider {
  private readonly visible: ReadonlySet<string>;
  private readonly today: number;

  public constructor(private readonly policy: WritePolicy) {
    this.visible = new Set(policy.visibleDates);
    this.today = dayStartMs(policy.date);
  }

  /** True when the stored item (dated `storedDate`, vector `stored`) may keep serving instead of `fresh`. */
  public keepsStored(storedDate: string | undefined, stored: Float32Array | undefined, fresh: Float32Array): boolean {
    if (storedDate === undefined || stored === undefined || !this.visible.has(storedDate)) return false;
    const ageDays = Math.round((this.today - dayStartMs(storedDate)) / DAY_MS);
    if (ageDays >= this.policy.refreshAgeDays) return false; // the refresh forces the write
    const c = cosine(fresh, stored);
    return c >= this.policy.minCosine; // NaN (a non-finite vector) is written, and the gate refuses it
  }
}
