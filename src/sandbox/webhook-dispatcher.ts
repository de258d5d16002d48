// Outbound webhooks of a sandbox system, as real SaaS and ERP add-ons send them: Standard Webhooks
// signatures (webhook-id, webhook-timestamp, webhook-signature), retries with backoff on any
// non-2xx or network failure, and, when the fault injector says so, duplicate and out-of-order
// deliveries. Delivery is sequential per subscription except that a retried message waits for its
// delay while later ones go ahead, which is itself a source of reordering, as in real systems.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { ulid } from 'ulid';
import type { FaultInjector } from './faults.ts';

export interface WebhookSubscriptionSpec {
  /** Where notifications are POSTed. */
  readonly url: string;
  /** `whsec_<base64>` signing secret (default: generated). */
  readonly secret?: string;
  /** Event types to send, e.g. `sales_order.updated`; `*` or unset means all. */
  readonly events?: readonly string[];
}

export interface WebhookSubscription {
  readonly id: string;
  readonly url: string;
  readonly secret: string;
  readonly events: readonly string[];
  readonly created_at: string;
}

export interface WebhookDelivery {
  readonly msgId: string;
  readonly subscriptionId: string;
  readonly type: string;
  readonly attempt: number;
  /** HTTP status of the receiver, or null when the request failed (refused, timed out). */
  readonly status: number | null;
  readonly error?: string;
  readonly at: string;
  /** True for the extra copy sent by the duplicate fault. */
  readonly duplicate: boolean;
  /** `delivered` (2xx), `retrying` (failed, will retry), `dead` (failed, retries exhausted). */
  readonly outcome: 'delivered' | 'retrying' | 'dead';
}

export interface WebhookDispatcherOptions {
  /** Used in the User-Agent, e.g. `erp`. */
  readonly source: string;
  readonly faults: FaultInjector;
  /** Delays before each retry, in ms (default [500, 2000, 10000, 30000, 60000]); attempts = length + 1. */
  readonly retryDelaysMs?: readonly number[];
  /** Timeout of one delivery attempt, in ms (default 5000). */
  readonly timeoutMs?: number;
  /** Deliveries kept in the log, newest last (default 5000). */
  readonly logLimit?: number;
}

interface Message {
  readonly msgId: string;
  readonly type: string;
  readonly body: string;
  attempt: number;
}

interface SubscriptionState {
  readonly sub: WebhookSubscription;
  readonly signer: Webhook;
  readonly queue: Message[];
  running: boolean;
}

export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export class WebhookDispatcher {
  private readonly subs = new Map<string, SubscriptionState>();
  private readonly log: WebhookDelivery[] = [];
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly retryDelaysMs: readonly number[];
  private readonly timeoutMs: number;
  private readonly logLimit: number;
  private stopped = false;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.retryDelaysMs = options.retryDelaysMs ?? [500, 2000, 10_000, 30_000, 60_000];
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.logLimit = options.logLimit ?? 5000;
  }

  subscribe(spec: WebhookSubscriptionSpec): WebhookSubscription {
    const sub: WebhookSubscription = {
      id: `whsub_${ulid()}`,
      url: spec.url,
      secret: spec.secret ?? generateWebhookSecret(),
      events: spec.events === undefined || spec.events.length === 0 ? ['*'] : [...spec.events],
      created_at: new Date().toISOString(),
    };
    this.subs.set(sub.id, { sub, signer: new Webhook(sub.secret), queue: [], running: false });
    return sub;
  }

  unsubscribe(id: string): boolean {
    return this.subs.delete(id);
  }

  subscriptions(): WebhookSubscription[] {
    return [...this.subs.values()].map((s) => s.sub);
  }

  deliveries(): WebhookDelivery[] {
    return [...this.log];
  }

  /** Queues `{ type, timestamp, data }` for every subscription that wants `type`. */
  emit(type: string, data: unknown): void {
    if (this.stopped) return;
    const body = JSON.stringify({ type, timestamp: new Date().toISOString(), data });
    for (const state of this.subs.values()) {
      if (!state.sub.events.includes('*') && !state.sub.events.includes(type)) continue;
      state.queue.push({ msgId: `msg_${ulid()}`, type, body, attempt: 1 });
      this.pump(state);
    }
  }

  /** Resolves once nothing is queued, in flight or waiting for a retry. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    for (const s of this.subs.values()) s.queue.length = 0;
    this.settle();
  }

  private isIdle(): boolean {
    if (this.retryTimers.size > 0) return false;
    for (const s of this.subs.values()) if (s.running || s.queue.length > 0) return false;
    return true;
  }

  private settle(): void {
    if (!this.isIdle()) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private pump(state: SubscriptionState): void {
    if (state.running) return;
    state.running = true;
    void this.drain(state).finally(() => {
      state.running = false;
      if (state.queue.length > 0 && !this.stopped) this.pump(state);
      else this.settle();
    });
  }

  private async drain(state: SubscriptionState): Promise<void> {
    while (!this.stopped) {
      let message = state.queue.shift();
      if (message === undefined) return;
      // Out-of-order fault: hold this one back and send the next first.
      if (state.queue.length > 0 && this.options.faults.reorderDelivery()) {
        const next = state.queue.shift() as Message;
        state.queue.unshift(message);
        message = next;
      }
      const delivered = await this.attempt(state, message, false);
      if (delivered && this.options.faults.duplicateDelivery()) await this.attempt(state, message, true);
    }
  }

  private async attempt(state: SubscriptionState, message: Message, duplicate: boolean): Promise<boolean> {
    const sentAt = new Date();
    const signature = state.signer.sign(message.msgId, sentAt, message.body);
    let status: number | null = null;
    let error: string | undefined;
    try {
      const response = await fetch(state.sub.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': `Sandbox-${this.options.source}-Webhooks/1.0`,
          'webhook-id': message.msgId,
          'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
          'webhook-signature': signature,
        },
        body: message.body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = response.status;
      await response.arrayBuffer();
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    const ok = status !== null && status >= 200 && status < 300;
    const exhausted = message.attempt > this.retryDelaysMs.length;
    this.record({
      msgId: message.msgId,
      subscriptionId: state.sub.id,
      type: message.type,
      attempt: message.attempt,
      status,
      ...(error === undefined ? {} : { error }),
      at: sentAt.toISOString(),
      duplicate,
      outcome: ok ? 'delivered' : exhausted ? 'dead' : 'retrying',
    });
    if (!ok && !duplicate && !exhausted && !this.stopped) {
      const delay = this.retryDelaysMs[message.attempt - 1] ?? 0;
      message.attempt++;
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        if (this.stopped || !this.subs.has(state.sub.id)) return this.settle();
        state.queue.push(message);
        this.pump(state);
      }, delay);
      this.retryTimers.add(timer);
    }
    return ok;
  }

  private record(delivery: WebhookDelivery): void {
    this.log.push(delivery);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
  }
}
