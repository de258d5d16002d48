// The base of every typed failure in Crossdock. A failure carries a stable string code, the HTTP
// status the API answers with, whether retrying can help, and its context as readonly fields.
// Codes and their documentation live in one registry (`registry.ts`), which also renders docs/errors.md.

export interface ErrorDefinition {
  /** Stable string code, SCREAMING_SNAKE_CASE; never reused for another meaning. */
  readonly code: string;
  /** HTTP status the API answers with. */
  readonly status: number;
  /** Whether the same operation may succeed if tried again unchanged. */
  readonly retryable: boolean;
  /** One-line title used as the problem+json `title`. */
  readonly title: string;
  /** What it means and what to do about it, for docs/errors.md. */
  readonly description: string;
}

export interface CrossdockErrorOptions {
  /** Underlying cause, kept for logs; never sent to API clients. */
  readonly cause?: unknown;
  /** Delay, in ms, a caller should wait before retrying (e.g. from a `Retry-After` header). */
  readonly retryAfterMs?: number;
}

export class CrossdockError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;
  readonly title: string;
  readonly retryAfterMs: number | undefined;
  /** Fields safe to show to a client (no secrets); rendered as problem+json extension members. */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    definition: ErrorDefinition,
    message: string,
    context: object = {},
    options: CrossdockErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = definition.code;
    this.status = definition.status;
    this.retryable = definition.retryable;
    this.title = definition.title;
    this.retryAfterMs = options.retryAfterMs;
    this.context = context as Readonly<Record<string, unknown>>;
  }
}

export function isCrossdockError(value: unknown): value is CrossdockError {
  return value instanceof CrossdockError;
}
