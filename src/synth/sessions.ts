/**
 * One user's activity on one day: sessions at rhythm-shaped times, each focused on one topic
 * (usually a long-term interest, sometimes exploration) and within it on one sub-cluster; per
 * item impression one event: the deepest step of its funnel (view, close-up, click, save, or hide).
 * Engagement is higher on long-term interests, so future positives follow the interests.
 */
import type { Rng } from './rng.ts';
import type { UserChunk } from './users.ts';
import type { World } from './world.ts';

/** Relative session-start intensity by local hour (morning, lunch, evening peaks). */
const HOUR_WEIGHTS = [
  0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 0.9, 1.0, 0.9, 0.8, 0.9, 1.2, 1.1, 0.9, 0.9, 1.0, 1.1, 1.3, 1.6, 1.8, 1.7, 1.2,
  0.7,
];
const HOUR_CDF = (() => {
  const cdf = new Float64Array(24);
  let sum = 0;
  HOUR_WEIGHTS.forEach((w, h) => {
    sum += w;
    cdf[h] = sum;
  });
  return cdf.map((v) => v / sum);
})();
/** Activity multiplier by UTC weekday (0 = Sunday): more on weekends. */
export const WEEKDAY_FACTOR = [1.2, 0.95, 0.92, 0.93, 1.0, 1.05, 1.2];
/** Caps the log-normal tails of durations (30 min). */
const MAX_SYNTH_DURATION_MS = 1_800_000;
const SURFACE_CHOICES = ['home', 'search', 'related', 'profile', null] as const;
const SURFACE_CDF = [0.5, 0.7, 0.85, 0.95, 1];

interface Engagement {
  readonly hide: number;
  readonly closeup: number;
  readonly clickAfterCloseup: number;
  readonly clickDirect: number;
  readonly saveBase: number;
  readonly saveIfEngaged: number;
}
const ON_INTEREST: Engagement = {
  hide: 0.01,
  closeup: 0.25,
  clickAfterCloseup: 0.35,
  clickDirect: 0.05,
  saveBase: 0.03,
  saveIfEngaged: 0.2,
};
const EXPLORING: Engagement = {
  hide: 0.06,
  closeup: 0.12,
  clickAfterCloseup: 0.2,
  clickDirect: 0.02,
  saveBase: 0.005,
  saveIfEngaged: 0.04,
};

/** Column buffers of one output file. */
export class EventBuffer {
  public userId: string[] = [];
  public itemId: string[] = [];
  public action: string[] = [];
  public surface: (string | null)[] = [];
  public ts: number[] = [];
  public durationMs: (number | null)[] = [];

  public get length(): number {
    return this.ts.length;
  }

  public push(
    user: string,
    item: string,
    action: string,
    surface: string | null,
    ts: number,
    duration: number | null,
  ): void {
    this.userId.push(user);
    this.itemId.push(item);
    this.action.push(action);
    this.surface.push(surface);
    this.ts.push(ts);
    this.durationMs.push(duration);
  }

  public clear(): void {
    this.userId = [];
    this.itemId = [];
    this.action = [];
    this.surface = [];
    this.ts = [];
    this.durationMs = [];
  }
}

export interface SessionOptions {
  /** Share of sessions on a random (popularity-drawn) topic instead of a long-term interest; default 0.2. */
  readonly exploreRate: number;
  /** Share of a session's items drawn from its focused sub-cluster; default 0.6. */
  readonly subclusterFocus: number;
}

/** Session start times (seconds after 00:00 UTC, sorted): hours drawn from the day's activity curve in the user's time zone. */
function sessionStarts(users: UserChunk, u: number, activity: number, rng: Rng): number[] {
  const sessions = 1 + Math.min(5, rng.poisson(0.25 * activity));
  const starts: number[] = [];
  for (let s = 0; s < sessions; s++) {
    const r = rng.next();
    let hour = 0;
    while (hour < 23 && HOUR_CDF[hour]! <= r) hour++;
    const localSec = hour * 3600 + rng.next() * 3600;
    starts.push((((localSec - users.tzHours[u]! * 3600) % 86400) + 86400) % 86400);
  }
  return starts.sort((a, b) => a - b);
}

/**
 * The impression's funnel (view, then maybe close-up, click, save) is walked in full, but only
 * its deepest step is logged: a logged view or close-up of the same item just before every
 * positive would hand a realtime model the answer.
 */
function walkFunnel(
  rng: Rng,
  p: Engagement,
  t: number,
): { outcome: { action: string; duration: number | null }; last: number; engaged: boolean } {
  const viewDuration = rng.next() < 0.7 ? Math.round(rng.logNormal(Math.log(2000), 0.8)) : null;
  let outcome: { action: string; duration: number | null } = { action: 'view', duration: viewDuration };
  let last = t + (viewDuration ?? 1500);
  let engaged = false;
  if (rng.next() < p.hide) {
    outcome = { action: 'hide', duration: null };
    last += 500;
  } else {
    let clickChance = p.clickDirect;
    if (rng.next() < p.closeup) {
      const duration = Math.min(MAX_SYNTH_DURATION_MS, Math.round(rng.logNormal(Math.log(7000), 0.9)));
      outcome = { action: 'closeup', duration };
      last += 800 + duration;
      engaged = true;
      clickChance = p.clickAfterCloseup;
    }
    if (rng.next() < clickChance) {
      const duration = Math.min(MAX_SYNTH_DURATION_MS, Math.round(rng.logNormal(Math.log(9000), 1.0)));
      outcome = { action: 'click', duration };
      last += 500 + duration;
      engaged = true;
    }
    if (rng.next() < (engaged ? p.saveIfEngaged : p.saveBase)) {
      outcome = { action: 'save', duration: null };
      last += 1000;
    }
  }
  return { outcome, last, engaged };
}

/**
 * Appends user `u`'s events of day `day` (epoch ms of its 00:00 UTC) to `out`. Call once per
 * user and day, in day order: it also advances the user's interest drift.
 */
export function generateUserDay(
  users: UserChunk,
  u: number,
  dayIndex: number,
  dayStartMs: number,
  world: World,
  rng: Rng,
  options: SessionOptions,
  out: EventBuffer,
): void {
  if (dayIndex < users.startDay[u]! || dayIndex >= users.endDay[u]!) return;
  users.drift(u, rng);
  const weekday = new Date(dayStartMs).getUTCDay();
  if (rng.next() >= Math.min(0.95, users.pActive[u]! * WEEKDAY_FACTOR[weekday]!)) return;

  const activity = users.activity[u]!;
  const starts = sessionStarts(users, u, activity, rng);

  const dayEnd = dayStartMs + 86_400_000;
  const user = users.ids[u]!;
  const emit = (item: number, action: string, surface: string | null, ts: number, duration: number | null): void => {
    if (ts < dayEnd) out.push(user, world.itemIds[item]!, action, surface, ts, duration);
  };
  let cursor = dayStartMs;
  for (const startSec of starts) {
    let t = Math.max(dayStartMs + Math.floor(startSec * 1000), cursor + 60_000);
    if (t >= dayEnd) break;
    const explore = rng.next() < options.exploreRate;
    const topic = explore ? world.sampleTopic(rng) : users.sampleInterest(u, rng);
    const onInterest = users.interestIndex(u, topic) >= 0;
    const p = onInterest ? ON_INTEREST : EXPLORING;
    const sub = rng.int(world.options.subclusters);
    const r = rng.next();
    let k = 0;
    while (SURFACE_CDF[k]! <= r) k++;
    const sessionSurface = SURFACE_CHOICES[k]!;
    const impressions = 1 + Math.min(80, rng.geometric(2 * Math.sqrt(activity)));
    let previousEngaged = false;
    const shown = new Set<number>();
    for (let i = 0; i < impressions && t < dayEnd; i++) {
      // a feed does not show an item twice in a session: redraw (a few times) an item already shown
      let item = world.sampleItem(rng, topic, rng.next() < options.subclusterFocus ? sub : -1);
      for (let retry = 0; retry < 8 && shown.has(item); retry++) {
        item = world.sampleItem(rng, topic, rng.next() < options.subclusterFocus ? sub : -1);
      }
      shown.add(item);
      const surface = previousEngaged && rng.next() < 0.4 ? 'related' : sessionSurface;
      const { outcome, last, engaged } = walkFunnel(rng, p, t);
      emit(item, outcome.action, surface, t, outcome.duration);
      previousEngaged = engaged;
      t = last + Math.round(rng.logNormal(Math.log(12_000), 0.8));
    }
    cursor = t;
  }
}
