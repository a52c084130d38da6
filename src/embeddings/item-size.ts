/**
 * DynamoDB's item size accounting (what write units are charged on): attribute name bytes plus
 * value bytes; strings as UTF-8, binary as raw bytes, numbers as about one byte per two
 * significant digits plus one.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

export const WRITE_UNIT_BYTES = 1024;

function numberSize(value: string): number {
  const digits = value
    .replace(/^[-+]/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
}

export function attributeValueSize(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S, 'utf8');
  if (value.B !== undefined) return value.B.byteLength;
  if (value.N !== undefined) return numberSize(value.N);
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + attributeValueSize(v), 0);
  if (value.M !== undefined) return 3 + itemSize(value.M) + Object.keys(value.M).length;
  if (value.SS !== undefined) return value.SS.reduce((sum, v) => sum + Buffer.byteLength(v, 'utf8'), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, v) => sum + numberSize(v), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, v) => sum + v.byteLength, 0);
  return 0;
}

/** Size in bytes of an item as DynamoDB counts it. */
export function itemSize(item: Readonly<Record<string, AttributeValue>>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += Buffer.byteLength(name, 'utf8') + attributeValueSize(value);
  return size;
}

/** Write units one put of the item consumes (on-demand or provisioned). */
export function writeUnits(item: Readonly<Record<string, AttributeValue>>): number {
  return Math.max(1, Math.ceil(itemSize(item) / WRITE_UNIT_BYTES));
}
