// Tryton's JSON-RPC value encodings. Tryton sends and expects Decimal, date and datetime as tagged
// objects (`{"__class__":"Decimal","decimal":"10.00"}`). Decoding turns them into plain JSON that
// keeps every digit: Decimals as strings, dates as `YYYY-MM-DD`, datetimes (naive UTC in Tryton) as
// ISO 8601 with microseconds and `Z`. Encoding goes the other way for values we send.

export interface TrytonDecimal {
  readonly __class__: 'Decimal';
  readonly decimal: string;
}
export interface TrytonDate {
  readonly __class__: 'date';
  readonly year: number;
  readonly month: number;
  readonly day: number;
}
export interface TrytonDateTime {
  readonly __class__: 'datetime';
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly microsecond: number;
}

/** `'10.00'` -> Tryton Decimal. The string is sent as is, so no binary rounding creeps in. */
export function decimal(value: string | number): TrytonDecimal {
  const text = typeof value === 'number' ? String(value) : value.trim();
  if (!/^-?\d+(\.\d+)?$/.test(text)) throw new RangeError(`not a decimal number: ${text}`);
  return { __class__: 'Decimal', decimal: text };
}

/** `'2026-01-31'` -> Tryton date. */
export function date(iso: string): TrytonDate {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!m) throw new RangeError(`not a date (YYYY-MM-DD): ${iso}`);
  return { __class__: 'date', year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
}

/** An ISO 8601 UTC instant (up to microseconds) or a Date -> Tryton datetime (naive UTC). */
export function datetime(value: string | Date): TrytonDateTime {
  if (value instanceof Date) {
    return {
      __class__: 'datetime',
      year: value.getUTCFullYear(),
      month: value.getUTCMonth() + 1,
      day: value.getUTCDate(),
      hour: value.getUTCHours(),
      minute: value.getUTCMinutes(),
      second: value.getUTCSeconds(),
      microsecond: value.getUTCMilliseconds() * 1000,
    };
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z$/.exec(value);
  if (!m) throw new RangeError(`not a UTC instant (YYYY-MM-DDTHH:MM:SS[.ffffff]Z): ${value}`);
  return {
    __class__: 'datetime',
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4]),
    minute: Number(m[5]),
    second: Number(m[6]),
    microsecond: Number((m[7] ?? '').padEnd(6, '0')),
  };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function isTagged(value: unknown): value is { __class__: string } & Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { __class__?: unknown }).__class__ === 'string'
  );
}

/** Decodes one tagged value; anything else is returned unchanged. */
function decodeTagged(value: { __class__: string } & Record<string, unknown>): unknown {
  const n = (key: string) => Number(value[key] ?? 0);
  switch (value.__class__) {
    case 'Decimal':
      return String(value.decimal);
    case 'date':
      return `${pad(n('year'), 4)}-${pad(n('month'))}-${pad(n('day'))}`;
    case 'datetime':
      return `${pad(n('year'), 4)}-${pad(n('month'))}-${pad(n('day'))}T${pad(n('hour'))}:${pad(n('minute'))}:${pad(n('second'))}.${pad(n('microsecond'), 6)}Z`;
    case 'time':
      return `${pad(n('hour'))}:${pad(n('minute'))}:${pad(n('second'))}.${pad(n('microsecond'), 6)}`;
    case 'timedelta':
      return n('seconds');
    case 'bytes':
      return typeof value.base64 === 'string' ? value.base64 : '';
    default:
      return value;
  }
}

/** Decodes a JSON-RPC result: tagged values anywhere inside become plain JSON (see module comment). */
export function decode(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decode);
  if (isTagged(value)) return decodeTagged(value);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = decode(v);
    return out;
  }
  return value;
}

/** A decoded Tryton datetime (`…T….ffffffZ`) as a JS timestamp in ms (microseconds dropped). */
export function instantMs(decoded: string): number {
  return Date.parse(decoded.replace(/(\.\d{3})\d*Z$/, '$1Z'));
}

/** Shifts a decoded Tryton datetime by `ms`, keeping the microseconds. */
export function shiftInstant(decoded: string, ms: number): string {
  const micro = /\.\d{3}(\d{3})Z$/.exec(decoded)?.[1] ?? '000';
  return new Date(instantMs(decoded) + ms).toISOString().replace(/Z$/, `${micro}Z`);
}
