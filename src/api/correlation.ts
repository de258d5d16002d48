// Correlation ids: one per request, taken from `x-correlation-id` or the trace id of a W3C
// `traceparent` when the caller sends one, so a request can be followed across systems.
import { randomBytes } from 'node:crypto';

const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/;
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function correlationIdFrom(headers: Record<string, string | string[] | undefined>): string {
  const given = headers['x-correlation-id'];
  if (typeof given === 'string' && SAFE_ID.test(given)) return given;
  const tp = headers.traceparent;
  if (typeof tp === 'string') {
    const m = TRACEPARENT.exec(tp.trim().toLowerCase());
    if (m?.[1] && !/^0+$/.test(m[1])) return m[1];
  }
  return randomBytes(16).toString('hex');
}
