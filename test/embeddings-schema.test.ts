/** The table schema helpers: version ids, key layout, TTL and the refresh-age rule. */
import { describe, expect, it } from 'vitest';
import { isValidDate } from '../src/contract/run-contract.ts';
import {
  assertRefreshWithinRetention,
  parseVersionId,
  ttlFor,
  userPartitionKey,
  versionIdOf,
} from '../src/embeddings/table-schema.ts';
import { ValidationError } from '../src/util/errors.ts';

describe('table schema', () => {
  it('parses and prints version ids', () => {
    const parsed = parseVersionId('pinnerformer-demo-1a2b3c4d@2026-10-30');
    expect(parsed).toEqual({ modelVersion: 'pinnerformer-demo-1a2b3c4d', date: '2026-10-30' });
    expect(versionIdOf(parsed)).toBe('pinnerformer-demo-1a2b3c4d@2026-10-30');
  });

  it('refuses malformed version ids', () => {
    const bad = [
      '',
      '@2026-10-30',
      'm1@',
      'm1',
      'm1@2026-10-32',
      'm1@2026-02-29',
      'm@1@2026-10-30',
      'm#1@2026-10-30',
      'm1@26-10-30',
    ];
    const refused = bad.filter((id) => {
      try {
        parseVersionId(id);
        return false;
      } catch (error) {
        return error instanceof ValidationError;
      }
    });
    expect(refused).toEqual(bad);
  });

  it('validates calendar dates', () => {
    expect(['2024-02-29', '2026-12-31'].map(isValidDate)).toEqual([true, true]);
    expect(['2026-02-29', '2026-00-10', '2026-1-01', 'x'].map(isValidDate)).toEqual([false, false, false, false]);
  });

  it('keeps user keys apart from metadata keys and from other models', () => {
    const keys = [
      userPartitionKey('m1', '#pointer'),
      userPartitionKey('m1', 'a#b'),
      userPartitionKey('m1', 'a'),
      userPartitionKey('m2', 'a'),
    ];
    expect(new Set(keys).size).toBe(4);
    expect(keys.every((k) => k.startsWith('u#'))).toBe(true);
  });

  it('sets the TTL at date + retention days (UTC midnight)', () => {
    expect(ttlFor('2026-10-01', 30)).toBe(Date.parse('2026-10-31T00:00:00Z') / 1000);
  });

  it('demands refresh age + 1 < retention, so no embedding expires', () => {
    expect(() => assertRefreshWithinRetention(7, 30)).not.toThrow();
    expect(() => assertRefreshWithinRetention(29, 30)).toThrow(ValidationError);
    expect(() => assertRefreshWithinRetention(30, 30)).toThrow(ValidationError);
  });
});
