// W3C Trace Context (`traceparent`) for calls to outside systems. The current trace is carried in an
// AsyncLocalStorage, so code deep inside a workflow step need not pass it along; each outgoing request
// becomes a child span of it (same trace id, new parent id), or starts a new trace when there is none.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

export interface TraceContext {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero: the span that is current here. */
  readonly spanId: string;
  /** Trace flags, two hex digits (`01` = sampled). */
  readonly flags: string;
  /** Vendor `tracestate`, passed along unchanged. */
  readonly traceState?: string;
}

const storage = new AsyncLocalStorage<TraceContext>();

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** Parses a `traceparent` header; `undefined` when absent or invalid (as the spec says to ignore it). */
export function parseTraceparent(header: string | undefined, traceState?: string): TraceContext | undefined {
  const m = header === undefined ? null : TRACEPARENT.exec(header.trim().toLowerCase());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return undefined;
  return { traceId: traceId!, spanId: spanId!, flags: flags!, ...(traceState ? { traceState } : {}) };
}

export function formatTraceparent(context: TraceContext): string {
  return `00-${context.traceId}-${context.spanId}-${context.flags}`;
}

function nonZeroHex(bytes: number): string {
  for (;;) {
    const hex = randomBytes(bytes).toString('hex');
    if (!/^0+$/.test(hex)) return hex;
  }
}

/** A new root context (new trace id), sampled. */
export function newTraceContext(): TraceContext {
  return { traceId: nonZeroHex(16), spanId: nonZeroHex(8), flags: '01' };
}

/** A child of `parent`: same trace, new span id. */
export function childTraceContext(parent: TraceContext): TraceContext {
  return { ...parent, spanId: nonZeroHex(8) };
}

/** Runs `fn` with `context` as the current trace (e.g. taken from an inbound request's header). */
export function withTraceContext<T>(context: TraceContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The trace current in this async context, if any. */
export function currentTraceContext(): TraceContext | undefined {
  return storage.getStore();
}
