import { describe, expect, it } from 'vitest';
import { Featurizer } from '../src/features/featurize.ts';
import { ItemIdMap } from '../src/features/item-ids.ts';
import { ItemTable } from '../src/features/item-table.ts';
import { buildSequence, mergeSequence, type SequenceEvent } from '../src/features/sequence.ts';
import { defaultRelPeriodsSec, type FeatureSpec } from '../src/features/spec.ts';
import { fnv1a32 } from '../src/pipeline/hash.ts';

const ev = (
  ts: number,
  item: string,
  action = 'view',
  surface: string | null = 'home',
  duration: number | null = null,
): SequenceEvent => ({
  item_id: item,
  action,
  surface,
  ts,
  duration_ms: duration,
});

describe('buildSequence', () => {
  it('filters to the vocabulary and the cutoff, drops duplicates, orders, keeps the last M', () => {
    // Prepare
    const events = [
      ev(5000, 'c'),
      ev(1000, 'a', 'view', 'home', 2000),
      ev(3000, 'x', 'hide'), // not in the vocabulary
      ev(1000, 'a', 'view', 'home', 2000), // exact duplicate
      ev(2000, 'b', 'save', null),
      ev(2000, 'a', 'save', null), // same ts: item order decides
      ev(9000, 'late'), // at the cutoff: dropped
    ];
    // Act
    const seq = buildSequence(events, { actions: ['view', 'save'], maxLength: 3, cutoffMs: 9000 });
    // Assess: 4 candidates after filtering/dedup (a@1000, a@2000, b@2000, c@5000), the last 3 kept
    expect(seq.map((e) => `${e.item_id}@${e.ts}`)).toEqual(['a@2000', 'b@2000', 'c@5000']);
  });

  it('merges a snapshot with new events exactly as building from all events', () => {
    // Prepare
    const rules = { actions: ['view', 'save'], maxLength: 4, cutoffMs: 100_000 };
    const old = [ev(1, 'a'), ev(2, 'b'), ev(3, 'c'), ev(4, 'd'), ev(5, 'e')];
    const fresh = [ev(6, 'f'), ev(4, 'd'), ev(7, 'g', 'hide')];
    // Act
    const merged = mergeSequence(buildSequence(old, rules), fresh, rules);
    // Assess
    expect(merged).toEqual(buildSequence([...old, ...fresh], rules));
    expect(merged.map((e) => e.item_id)).toEqual(['c', 'd', 'e', 'f']);
  });
});

describe('Featurizer', () => {
  const spec: FeatureSpec = {
    actions: ['view', 'save'],
    surfaces: ['home'],
    absPeriodsSec: [3600, 86400],
    relPeriodsSec: [7, 1100],
    timeReferenceMs: 0,
    maxLength: 8,
    itemVectorDim: 2,
  };
  const items = new ItemTable(2, [{ itemId: 'i1', vector: [0.5, -1] }]);

  it('computes every input of a hand-worked example, right-padded', () => {
    // Prepare: cutoff 10 000 s; user 0 acts at 1000 s and 4000 s, user 1 once at 4000 s
    const cutoffMs = 10_000_000;
    const user0 = [ev(1_000_000, 'i1', 'view', 'home', 2000), ev(4_000_000, 'i2', 'save', null, null)];
    const user1 = [ev(4_000_000, 'i1', 'save', 'unknown-surface', 0)];
    // Act
    const batch = new Featurizer(spec, items).featurize([user0, user1], cutoffMs);
    // Assess: shapes
    expect(batch.length).toBe(2);
    expect(Array.from(batch.lengths)).toEqual([2n, 1n]);
    // ids: vector present -> 2, absent -> 1; action 1 + index; surface 2 + index, null/unknown -> 1; padding 0
    expect(Array.from(batch.itemId)).toEqual([2n, 1n, 2n, 0n]);
    expect(Array.from(batch.action)).toEqual([1n, 2n, 2n, 0n]);
    expect(Array.from(batch.surface)).toEqual([2n, 1n, 1n, 0n]);
    expect(Array.from(batch.itemVec)).toEqual([0.5, -1, 0, 0, 0.5, -1, 0, 0]);
    // time_frac = [abs 1h, abs 1d, age 7s, age 1100s, gap 7s, gap 1100s]
    const tf = Array.from(batch.timeFrac);
    const expected0 = [0.2777778, 0.0115741, 0.7142857, 0.1818182, 0, 0];
    const expected1 = [0.1111111, 0.0462963, 0.1428571, 0.4545455, 0.5714286, 0.7272727];
    expected0.forEach((v, i) => {
      expect(tf[i]).toBeCloseTo(v, 6);
    });
    expected1.forEach((v, i) => {
      expect(tf[6 + i]).toBeCloseTo(v, 6);
    });
    expect(tf.slice(18)).toEqual([0, 0, 0, 0, 0, 0]); // user 1's padded position
    // scalars = [log1p(duration s), log1p(days since reference), log1p(age s), log1p(gap s)]
    const sc = Array.from(batch.scalars);
    [1.0986123, 0.0115076, 9.105091, 0].forEach((v, i) => {
      expect(sc[i]).toBeCloseTo(v, 6);
    });
    [0, 0.0452566, 8.6996814, 8.0067008].forEach((v, i) => {
      expect(sc[4 + i]).toBeCloseTo(v, 6);
    });
    [0, 0.0452566, 8.6996814, 0].forEach((v, i) => {
      expect(sc[8 + i]).toBeCloseTo(v, 6);
    });
  });

  it('uses the documented log-spaced relative periods', () => {
    // Act
    const periods = defaultRelPeriodsSec();
    // Assess
    expect(periods).toHaveLength(32);
    expect(periods[0]).toBeCloseTo(1, 12);
    expect(periods[31]).toBeCloseTo(2_419_200, 4);
    expect(periods[16]! / periods[15]!).toBeCloseTo(periods[1]! / periods[0]!, 10);
  });

  it('maps item ids through a vocabulary when the model has one', () => {
    // Prepare
    const withVocab = new ItemTable(2, [{ itemId: 'i1', vector: [1, 1] }], new ItemIdMap(['i9', 'i1']));
    // Act
    const batch = new Featurizer(spec, withVocab).featurize([[ev(1, 'i1'), ev(2, 'i9'), ev(3, 'zz')]], 10);
    // Assess: 2 + index, 1 when not in the vocabulary
    expect(Array.from(batch.itemId)).toEqual([3n, 2n, 1n]);
  });

  it('sends unseen ids to hash buckets after the vocabulary, by FNV-1a of their UTF-8 bytes', () => {
    // Prepare: an id-only model (no vectors) with 2 ids and 7 buckets
    const ids = new ItemIdMap(['i9', 'i1'], 7);
    const idOnly = new ItemTable(0, [], ids);
    const unseen = ['zz', 'é-item', '42'];
    // Act
    const batch = new Featurizer({ ...spec, itemVectorDim: 0 }, idOnly).featurize(
      [[ev(1, 'i1'), ...unseen.map((id, k) => ev(2 + k, id))]],
      10,
    );
    // Assess: the published FNV-1a vectors, then 2 + V + h mod H for each unseen id
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    expect(batch.itemVec).toHaveLength(0);
    expect(Array.from(batch.itemId)).toEqual([3n, ...unseen.map((id) => BigInt(2 + 2 + (fnv1a32(id) % 7)))]);
    expect(fnv1a32('é-item')).not.toBe(fnv1a32('e-item'));
    expect(new ItemIdMap(['a'], 0).idOf('b')).toBe(1);
  });
});
