// A small HTTP client for talking to the sandbox systems from the traffic generator and tests:
// JSON in and out, the system's auth header, a per-attempt timeout, and retries that respect
// `Retry-After`. Retrying a write is only safe when it cannot apply twice, so a write is retried
// after an ambiguous failure (timeout, dropped connection) only with an Idempotency-Key or a
// `verify` callback that looks for the effect first. Not the connectors' shared client: that one
// lives in src/connectors and serves production paths; this one never does.
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxRequestFailedError } from './errors.ts';

export interface SandboxClientOptions {
  /** Name used in errors (`erp`, `helpdesk`, ...). */
  readonly system: string;
  readonly baseUrl: string;
  /** Header and value that authenticate, e.g. `{ 'x-api-key': 'sandbox-erp-key' }`. */
  readonly authHeaders: Readonly<Record<string, string>>;
  /** Timeout of one attempt, in ms (default 5000). */
  readonly timeoutMs?: number;
  /** Give up retrying after this long, in ms (default 60000). */
  readonly maxElapsedMs?: number;
  /** Longest wait between attempts, in ms, whatever Retry-After says (default 5000). */
  readonly maxDelayMs?: number;
}

export interface RequestOptions<T> {
  /** Sent as `Idempotency-Key`; makes an ambiguous write safe to retry. */
  readonly idempotencyKey?: string;
  /**
   * For writes without an idempotency key: after an ambiguous failure, looks for the effect and
   * returns it (the request is then not sent again) or undefined (it is retried).
   */
  readonly verify?: () => Promise<T | undefined>;
  /** The write sets values, so sending it twice equals sending it once: resend freely (default false). */
  readonly naturallyIdempotent?: boolean;
  /** Statuses answered to the caller instead of thrown (e.g. [404, 409]). */
  readonly accept?: readonly number[];
}

export interface ClientResponse<T> {
  readonly status: number;
  readonly body: T;
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

export class SandboxClient {
  private readonly timeoutMs: number;
  private readonly maxElapsedMs: number;
  private readonly maxDelayMs: number;
  /** Attempts that failed and were retried, by cause; for reports and tests. */
  readonly retries = { status: 0, network: 0 };

  constructor(private readonly options: SandboxClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxElapsedMs = options.maxElapsedMs ?? 60_000;
    this.maxDelayMs = options.maxDelayMs ?? 5000;
  }

  get<T>(path: string, options: RequestOptions<T> = {}): Promise<T> {
    return this.request<T>('GET', path, undefined, options).then((r) => r.body);
  }

  post<T>(path: string, body: unknown, options: RequestOptions<T> = {}): Promise<T> {
    return this.request<T>('POST', path, body, options).then((r) => r.body);
  }

  patch<T>(path: string, body: unknown, options: RequestOptions<T> = {}): Promise<T> {
    return this.request<T>('PATCH', path, body, options).then((r) => r.body);
  }

  async request<T>(
    method: string,
    path: string,
    body: unknown,
    options: RequestOptions<T> = {},
  ): Promise<ClientResponse<T>> {
    const started = Date.now();
    const write = method !== 'GET';
    const safeToResend =
      !write || options.idempotencyKey !== undefined || options.naturallyIdempotent === true;
    for (let attempt = 1; ; attempt++) {
      let delayMs = Math.min(this.maxDelayMs, 50 * 2 ** attempt);
      try {
        const response = await fetch(`${this.options.baseUrl}${path}`, {
          method,
          headers: {
            ...this.options.authHeaders,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...(options.idempotencyKey === undefined ? {} : { 'idempotency-key': options.idempotencyKey }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const text = await response.text();
        if (response.ok || options.accept?.includes(response.status)) {
          return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
        }
        // The sandbox injects 429 and 5xx before doing any work, so resending is safe here.
        if (!RETRYABLE_STATUS.has(response.status) || Date.now() - started > this.maxElapsedMs) {
          throw new SandboxRequestFailedError(this.options.system, method, path, response.status, text);
        }
        this.retries.status++;
        const retryAfter = Number(response.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter > 0)
          delayMs = Math.min(this.maxDelayMs, retryAfter * 1000);
      } catch (err) {
        if (err instanceof SandboxRequestFailedError) throw err;
        // Refused, reset or timed out: the write may or may not have been applied.
        if (Date.now() - started > this.maxElapsedMs) {
          throw new SandboxRequestFailedError(this.options.system, method, path, 0, String(err), {
            cause: err,
          });
        }
        this.retries.network++;
        if (!safeToResend && options.verify !== undefined) {
          await sleep(delayMs);
          const found = await this.verifyQuietly(options.verify);
          if (found !== undefined) return { status: 200, body: found };
          continue;
        }
      }
      await sleep(delayMs);
    }
  }

  // The check itself may hit the same outage; keep trying until it gives an answer.
  private async verifyQuietly<T>(verify: () => Promise<T | undefined>): Promise<T | undefined> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await verify();
      } catch (err) {
        if (Date.now() - started > this.maxElapsedMs) throw err;
        await sleep(Math.min(this.maxDelayMs, 50 * 2 ** attempt));
      }
    }
  }
}
