// Relays the log to NATS JetStream for other nodes and outside consumers (cluster mode). The relay
// is an ordinary `halt`-mode consumer of the log, so it publishes in log order and exactly one
// process runs it at a time (the consumer lease). Each message carries `Nats-Msg-Id` = the event id,
// so a relay that crashed between publishing and committing its position republishes into
// JetStream's duplicate window and nothing is duplicated downstream. Once caught up with what the
// stream holds, every publish also expects the stream's last message id to be the previous event's,
// so a paused relay that lost its lease cannot publish after its successor took over: the stream
// has moved on and refuses it.
// Publishes are pipelined: a step hands its events to the client together, without waiting for each
// acknowledgement (one connection keeps them in order), and waits for all of them before it commits
// its position. They
// are plain publishes with a reply subject on one subscription of the relay's, not `js.publish`:
// a JetStream request per event (a timer and two error objects for stack context each) cost more
// CPU than the rest of the relay together.
// Subjects: `<prefix>.<tenant>.<partition>.<noun>.<verb>`, partition = hash of the entity key.
import {
  createInbox,
  headers,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { ConsumerRunner, EventDispatcher } from './dispatcher.ts';
import { toCloudEvent, type LoggedEvent } from './envelope.ts';
import type { EventsDb } from './tables.ts';

export interface NatsRelayOptions {
  readonly dispatcher: EventDispatcher;
  /** A connected NATS client (from @nats-io/transport-node); the relay does not close it. */
  readonly nats: NatsConnection;
  /** JetStream stream name (default `CROSSDOCK_EVENTS`); created when missing. */
  readonly stream?: string;
  /** Subject prefix (default `crossdock.events`). */
  readonly subjectPrefix?: string;
  /** Entity partitions (default 16); fixed for the life of a stream. */
  readonly partitions?: number;
  /** JetStream duplicate window, in ms (default 600000): how long a republish is recognised. */
  readonly duplicateWindowMs?: number;
  /** Name of the relay's consumer of the log (default `nats-relay`). */
  readonly consumerName?: string;
}

/** FNV-1a over the entity key: stable across processes and releases. */
export function entityPartition(tenantId: string, kind: string, id: string, partitions: number): number {
  let h = 0x811c9dc5;
  const key = `${tenantId}\u0000${kind}\u0000${id}`;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

/** A subject token from a tenant id: NATS tokens may not hold `.`, `*`, `>` or whitespace. */
export function subjectToken(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, (c) => `~${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function eventSubject(prefix: string, event: LoggedEvent, partitions: number): string {
  const partition = entityPartition(event.tenantId, event.entity.kind, event.entity.id, partitions);
  return `${prefix}.${subjectToken(event.tenantId)}.${partition}.${event.type.replace(':', '.')}`;
}

/** Publishes a relay keeps in flight before it waits for their acknowledgements. */
const MAX_IN_FLIGHT = 1000;
/** How long a step waits for JetStream's acknowledgements before it gives up, in ms. */
const CONFIRM_TIMEOUT_MS = 5000;

export class NatsRelay {
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly partitions: number;
  readonly consumerName: string;
  readonly #options: NatsRelayOptions;
  #jsm: JetStreamManager | undefined;
  /** Id of the last message this relay knows the stream holds; undefined until read at start. */
  #lastMsgId: string | undefined;
  /** Id the stream held when this relay started: republishing up to it relies on deduplication. */
  #catchUpTo: string | undefined;
  #runner: ConsumerRunner | undefined;
  /** Messages of the current step not yet handed to the client, in order. */
  #unsent: { subject: string; payload: string; options: { reply: string; headers: MsgHdrs } }[] = [];
  /** Publishes sent in the current step, not yet confirmed. */
  #pending: Promise<unknown>[] = [];
  /** Acknowledgements awaited, by the reply token of their publish. */
  readonly #acks = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  #inbox = '';
  #ackSub: Subscription | undefined;
  #token = 0;
  /** A confirmation failed: where the stream stands is unknown until its tail is read again. */
  #unsure = false;

  constructor(options: NatsRelayOptions) {
    this.#options = options;
    this.stream = options.stream ?? 'CROSSDOCK_EVENTS';
    this.subjectPrefix = options.subjectPrefix ?? 'crossdock.events';
    this.partitions = options.partitions ?? 16;
    this.consumerName = options.consumerName ?? 'nats-relay';
  }

  /** Ensures the stream exists, learns its last message, and starts relaying. */
  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.#options.nats);
    this.#jsm = jsm;
    try {
      await jsm.streams.info(this.stream);
    } catch {
      await jsm.streams.add({
        name: this.stream,
        subjects: [`${this.subjectPrefix}.>`],
        duplicate_window: (this.#options.duplicateWindowMs ?? 600_000) * 1_000_000,
      });
    }
    await this.#readStreamTail();
    if (this.#catchUpTo !== undefined) {
      // The stream's last message is already behind the relay's committed position: nothing to
      // catch up, fence from the first publish.
      const dispatcher = this.#options.dispatcher;
      const last = await dispatcher.log.get(this.#catchUpTo.split('.')[0]!);
      const row = await dispatcher.store
        .db<EventsDb>()
        .selectFrom('ev_consumers')
        .select('position')
        .where('name', '=', this.consumerName)
        .executeTakeFirst();
      if (last !== undefined && row !== undefined && last.position <= Number(row.position))
        this.#catchUpTo = undefined;
    }
    this.#runner = await this.#options.dispatcher.subscribe(
      this.consumerName,
      (e, ctx) => this.#send(e, ctx.generation),
      {
        beforeCommit: () => this.#confirm(),
        kind: 'relay',
        failureMode: 'halt',
        pauseAfterFailures: Number.MAX_SAFE_INTEGER,
        retry: { baseMs: 100, maxMs: 5000 },
        batchSize: 1000,
      },
    );
  }

  async #readStreamTail(): Promise<void> {
    const info = await this.#jsm!.streams.info(this.stream);
    const last = info.state.last_seq;
    if (last === 0) {
      this.#lastMsgId = undefined;
      this.#catchUpTo = undefined;
      return;
    }
    const msg = await this.#jsm!.streams.getMessage(this.stream, { seq: last });
    const id = msg?.header.get('Nats-Msg-Id') ?? undefined;
    this.#lastMsgId = id === '' ? undefined : id;
    this.#catchUpTo = this.#lastMsgId;
  }

  /**
   * Publishes one event and waits for JetStream's acknowledgement. Before the relay has reached the
   * message the stream held at start, it publishes with the message id only (a republish is
   * recognised as a duplicate); from then on it also expects the stream's last message id, the
   * fence against a relay that lost its lease.
   */
  async publish(event: LoggedEvent, generation = 0): Promise<void> {
    await this.#send(event, generation);
    await this.#confirm();
  }

  /**
   * Sends one event without waiting for its acknowledgement. The expectation is the id of the event
   * sent just before, so if one publish is refused every later one in flight is refused too: the
   * stream never holds a later event without the earlier ones.
   */
  async #send(event: LoggedEvent, generation: number): Promise<void> {
    this.#ackSub ??= this.#subscribeAcks();
    if (this.#unsure) {
      // Throws while NATS is away: the consumer retries this event with backoff.
      await this.#readStreamTail();
      this.#unsure = false;
    }
    const msgID = generation === 0 ? event.id : `${event.id}.${generation}`;
    const fenced = this.#catchUpTo === undefined && this.#lastMsgId !== undefined;
    const h = headers();
    h.set('Nats-Msg-Id', msgID);
    if (fenced) h.set('Nats-Expected-Last-Msg-Id', this.#lastMsgId!);
    const token = String(++this.#token);
    const acked = new Promise<void>((resolve, reject) => this.#acks.set(token, { resolve, reject }));
    // Settled in #confirm; keep an unobserved rejection from being reported in between.
    acked.catch(() => undefined);
    this.#unsent.push({
      subject: eventSubject(this.subjectPrefix, event, this.partitions),
      payload: JSON.stringify(toCloudEvent(event)),
      options: { reply: `${this.#inbox}.${token}`, headers: h },
    });
    this.#pending.push(acked);
    if (this.#catchUpTo === msgID) this.#catchUpTo = undefined;
    this.#lastMsgId = msgID;
    // Bound what is in flight (memory, and what a failure sends again).
    if (this.#pending.length >= MAX_IN_FLIGHT) await this.#confirm();
  }

  /** One subscription receives every acknowledgement; the reply subject's last token names the publish. */
  #subscribeAcks(): Subscription {
    this.#inbox = createInbox();
    return this.#options.nats.subscribe(`${this.#inbox}.*`, {
      callback: (_error, msg) => {
        const token = msg.subject.slice(this.#inbox.length + 1);
        const waiting = this.#acks.get(token);
        if (waiting === undefined) return;
        this.#acks.delete(token);
        let ack: { error?: { description?: string } } | undefined;
        try {
          ack = msg.json<{ error?: { description?: string } }>();
        } catch {
          ack = undefined; // an empty status reply: no stream listens on the subject (503)
        }
        if (ack !== undefined && ack.error === undefined) waiting.resolve();
        else
          waiting.reject(
            new Error(`JetStream refused the publish: ${ack?.error?.description ?? 'no responders'}`),
          );
      },
    });
  }

  /**
   * Hands the step's messages to the client in one synchronous run, so it writes them to the socket
   * together: sent from each handler call, the client flushed after every event (one write per
   * message, most of the relay's CPU).
   */
  #flush(): void {
    const unsent = this.#unsent;
    this.#unsent = [];
    for (const m of unsent) this.#options.nats.publish(m.subject, m.payload, m.options);
  }

  /** Waits for every publish in flight; throws (after relearning the stream's tail) if one failed. */
  async #confirm(): Promise<void> {
    this.#flush();
    const pending = this.#pending;
    this.#pending = [];
    if (pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), CONFIRM_TIMEOUT_MS);
    });
    const settled = Promise.allSettled(pending);
    const results = await Promise.race([settled, timeout]);
    clearTimeout(timer);
    if (results !== 'timeout' && results.every((r) => r.status === 'fulfilled')) return;
    // Someone else published since (a successor relay, or a republish after our own crash), or NATS
    // is away: the step does not commit, and before the next send the relay learns where the stream
    // is. Late acknowledgements of this round are ignored.
    this.#acks.clear();
    this.#unsure = true;
    if (results === 'timeout') throw new Error("JetStream did not acknowledge the relay's publishes in time");
    throw (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
  }

  async stop(): Promise<void> {
    if (this.#runner !== undefined) await this.#options.dispatcher.unsubscribe(this.consumerName);
    this.#runner = undefined;
    this.#ackSub?.unsubscribe();
    this.#ackSub = undefined;
  }
}
