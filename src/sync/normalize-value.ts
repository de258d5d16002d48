// The normal form in which echo suppression compares a value Crossdock wrote with what it reads back.
// Systems rewrite what they are given (trim, `10.5` -> `10.50`, `+00:00` -> `Z`, key order): two values
// with the same normal form are the same value. It is deliberately conservative: case is kept
// (a person changing `ups` to `UPS` made a change), per-field normalisers can loosen it.
import type { JsonValue } from '../connectors/index.ts';

const DECIMAL = /^[+-]?\d+\.\d+$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

function normalString(s: string): string {
  const t = s.normalize('NFC').trim().replace(/\s+/g, ' ');
  if (DECIMAL.test(t)) return t.replace(/0+$/, '').replace(/\.$/, '').replace(/^\+/, '');
  if (ISO_TIME.test(t)) {
    const ms = Date.parse(t);
    if (!Number.isNaN(ms)) return new Date(ms).toISOString();
  }
  return t;
}

function normal(value: JsonValue | undefined): JsonValue {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') {
    const s = normalString(value);
    return s === '' ? null : s;
  }
  if (typeof value === 'number') return normalString(String(value));
  if (typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((v) => normal(v));
  const out: Record<string, JsonValue> = {};
  for (const k of Object.keys(value).sort()) {
    const v = normal(value[k]);
    // An absent key and a null one read back the same from most systems.
    if (v !== null) out[k] = v;
  }
  return out;
}

/** Normal form of `value` as a string, comparable with `===`. `null`, `undefined` and `''` are equal. */
export function normalizeValue(value: JsonValue | undefined): string {
  return JSON.stringify(normal(value));
}
