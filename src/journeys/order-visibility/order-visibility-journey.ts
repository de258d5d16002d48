// The order-visibility journey: ERP order, credit, shipment and invoice changes appear on every
// helpdesk case that names the order, as custom fields (one coalesced write per burst, through
// `setDesired` + `Propagator`) and one milestone comment per meaningful transition (through the
// effect ledger, business key (case, milestone), marker in the comment). Capture runs by polling and
// webhooks into the sync engine; the journey's sink works inside each capture transaction.
//
// Propagation runs in-process (not as workflow runs): the work to do is durable in the store (desired
// versions not yet applied, pending milestone rows with their retry time), a sweep picks it up after a
// restart, and every write is made safe to repeat by the ledger. A write that keeps failing becomes a
// sync dead letter (`JOURNEY_WRITE_FAILED`) and is counted in `stats().deadLetters`.
import { Counter, Histogram } from 'prom-client';
import { sql } from 'kysely';
import type { Connector, InboundWebhook, JsonValue } from '../../connectors/index.ts';
import type { Store, StoreTx } from '../../store/index.ts';
import {
  CaptureEngine,
  EffectLedger,
  MapperRegistry,
  Propagator,
  setDesired,
  SyncEffectInFlightError,
  writeDeadLetter,
  findCanonicalId,
  type CapturedChange,
  type FieldOwnership,
} from '../../sync/index.ts';
import type { SyncDb } from '../../sync/tables.ts';
import { silentLogger, type Logger, type MetricsRegistry } from '../../telemetry/index.ts';
import { JourneyWriteFailedError } from '../errors.ts';
import { orderNumberRegExp } from './mappers.ts';
import { ERP_PROFILES, HELPDESK_PROFILES, type ErpProfile, type HelpdeskProfile } from './system-profiles.ts';
import type { CaseFieldKey } from '../config.ts';
import { changeEvents } from './change-events.ts';
import { appendEvents } from '../../events/index.ts';
import type { JourneysDb, JrnCaseLinksTable } from './migrations.ts';
import {
  orderMilestones,
  orderSummary,
  type Milestone,
  type OrderParts,
  type PartKind,
} from './order-summary.ts';

const JOURNEY = 'order-visibility';
type Db = JourneysDb & SyncDb;
type Fields = Record<string, JsonValue>;

export interface RetryOptions {
  /** Attempts of one write before it becomes a dead letter (default 8). */
  readonly maxAttempts?: number;
  /** Delay before the second attempt, in ms, doubled on each further one (default 500). */
  readonly baseDelayMs?: number;
  /** Longest delay between attempts, in ms (default 30000). */
  readonly maxDelayMs?: number;
}

export interface OrderVisibilityOptions {
  readonly store: Store;
  readonly tenantId: string;
  /** Configured names of the two systems (the `/hooks/{system}` segment, the sync tables' `system`). */
  readonly systems: { readonly erp: string; readonly helpdesk: string };
  readonly erp: Connector;
  readonly helpdesk: Connector;
  /**
   * What the journey knows of each system's connector type: streams, mappers, command shapes
   * (default: the sandbox ERP and helpdesk).
   */
  readonly profiles?: { readonly erp: ErpProfile; readonly helpdesk: HelpdeskProfile };
  /**
   * Capture and record what each case needs, but write nothing (default false). A backfill process
   * runs so, beside the service, whose sweep makes the writes: two processes writing the same cases
   * would each take the other's unfinished attempt for a dead one's.
   */
  readonly captureOnly?: boolean;
  /** Regular expression finding ERP order numbers in case text (default `\bSO-\d{6}\b`). */
  readonly orderNumberPattern?: string;
  /** Field ownership applied at capture; without it every changed field propagates. */
  readonly ownership?: FieldOwnership;
  /** Pause between polls of a caught-up stream, in ms (default 2000; webhooks carry most changes). */
  readonly pollIntervalMs?: number;
  /** Cases written to at once (default 8; the helpdesk connector's rate budget still applies). */
  readonly concurrency?: number;
  /**
   * How long a case waits after its first unwritten change before it is written, in ms, so changes
   * arriving together (a burst, one poll of several streams) make one write (default 200).
   */
  readonly coalesceMs?: number;
  /** How often due retries and work left by a previous process are picked up, in ms (default 1000). */
  readonly sweepIntervalMs?: number;
  readonly retry?: RetryOptions;
  /**
   * Helpdesk custom field receiving each summary value, by summary key (default: the helpdesk
   * profile's, e.g. `erp_order_status` on the sandbox helpdesk, `ERP Order` on Request Tracker); null
   * leaves that value out of the case.
   */
  readonly caseFields?: Readonly<Record<string, string | null | undefined>>;
  readonly logger?: Logger;
  readonly metrics?: MetricsRegistry;
}

export interface OrderVisibilityStats {
  /** ERP and helpdesk records applied by capture. */
  readonly captured: number;
  /** Cases linked to an order. */
  readonly casesLinked: number;
  /** Case field writes applied (each may carry several coalesced changes). */
  readonly fieldWrites: number;
  readonly milestonesWritten: number;
  /** Attempts that failed (each retried with backoff until it succeeds or becomes a dead letter). */
  readonly writeFailures: number;
  /** Writes given up after every retry (sync dead letters). */
  readonly deadLetters: number;
  /** Poll rounds that failed (the system was down or answered errors). */
  readonly pollErrors: number;
  /** Cases with changes not yet written. */
  readonly pendingCases: number;
  /** Age of the oldest change not yet on its case, in ms (0 when none). */
  readonly lagMs: number;
}

const PART_OF_KIND: Readonly<Record<string, PartKind>> = {
  order: 'order',
  credit: 'credit',
  shipment: 'shipment',
  invoice: 'invoice',
  return: 'return',
};

export class OrderVisibilityJourney {
  readonly engine: CaptureEngine;
  readonly ledger: EffectLedger;
  readonly propagator: Propagator;
  readonly #o: OrderVisibilityOptions;
  readonly #log: Logger;
  readonly #concurrency: number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #coalesceMs: number;
  readonly #erpProfile: ErpProfile;
  readonly #helpdeskProfile: HelpdeskProfile;
  /** Helpdesk field of each summary key written to cases; keys left out are not written. */
  readonly #caseFields: ReadonlyMap<string, string>;
  readonly #queue = new Set<string>();
  /** Cases waiting out their coalescing window. */
  readonly #debounce = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #inFlight = new Set<string>();
  readonly #running = new Set<Promise<void>>();
  /** Source time (ms) of each webhook-delivered version, for latency: `${stream}:${id}:${version}`. */
  readonly #hookTimes = new Map<string, number>();
  /** Oldest unwritten change per case, in ms since epoch. */
  readonly #pendingSince = new Map<string, number>();
  readonly #latencies: number[] = [];
  readonly #counts = {
    captured: 0,
    casesLinked: 0,
    fieldWrites: 0,
    milestonesWritten: 0,
    writeFailures: 0,
    deadLetters: 0,
    pollErrors: 0,
  };
  readonly #metrics:
    | {
        writes: Counter<'kind' | 'outcome'>;
        latency: Histogram;
      }
    | undefined;
  #abort: AbortController | undefined;
  /** Set by stop(): no new writes start. Before start(), writes run when asked (pollOnce, idle). */
  #stopped = false;
  #loops: Promise<void>[] = [];

  constructor(options: OrderVisibilityOptions) {
    this.#o = options;
    this.#log = options.logger ?? silentLogger();
    this.#concurrency = options.concurrency ?? 8;
    this.#coalesceMs = options.coalesceMs ?? 200;
    this.#maxAttempts = options.retry?.maxAttempts ?? 8;
    this.#baseDelayMs = options.retry?.baseDelayMs ?? 500;
    this.#maxDelayMs = options.retry?.maxDelayMs ?? 30_000;
    this.#erpProfile = options.profiles?.erp ?? ERP_PROFILES['sandbox-erp'];
    this.#helpdeskProfile = options.profiles?.helpdesk ?? HELPDESK_PROFILES['sandbox-helpdesk'];
    const caseFields = { ...this.#helpdeskProfile.defaultCaseFields };
    for (const [key, field] of Object.entries(options.caseFields ?? {})) {
      if (field !== undefined && key in caseFields) caseFields[key as CaseFieldKey] = field;
    }
    this.#caseFields = new Map(
      Object.entries(caseFields).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
    const pattern = orderNumberRegExp(options.orderNumberPattern);
    const mappers = new MapperRegistry();
    const { erp, helpdesk } = options.systems;
    for (const [stream, m] of Object.entries(this.#erpProfile.mappers(erp, pattern))) {
      mappers.register(erp, stream, m);
    }
    const helpdeskMappers = this.#helpdeskProfile.mappers(helpdesk, erp, pattern, caseFields);
    for (const [stream, m] of Object.entries(helpdeskMappers)) mappers.register(helpdesk, stream, m);
    this.engine = new CaptureEngine({
      store: options.store,
      mappers,
      sink: (tx, change) => this.#onChange(tx, change),
      ...(options.ownership === undefined ? {} : { ownership: options.ownership }),
      logger: this.#log,
    });
    // Embedded SQLite is one process: an attempt left unfinished by a previous process is looked up at
    // once after a restart instead of waiting out the ledger's 60 s attempt lease.
    this.ledger = new EffectLedger({
      store: options.store,
      logger: this.#log,
      // A capture-only process (a backfill beside the service) sends nothing and claims nothing.
      exclusive: options.store.dialect === 'sqlite' && options.captureOnly !== true,
    });
    this.propagator = new Propagator({
      store: options.store,
      ledger: this.ledger,
      connector: () => options.helpdesk,
      buildCommand: async (desired) => {
        const link = await this.#linkByKey(desired.recordKey);
        const customFields: Fields = {};
        for (const [key, value] of Object.entries(desired.fields)) {
          const field = this.#caseFields.get(key);
          if (field !== undefined) customFields[field] = value;
        }
        return this.#helpdeskProfile.updateCommand(link?.case_id ?? 'NaN', customFields);
      },
    });
    this.#metrics =
      options.metrics === undefined
        ? undefined
        : {
            writes: new Counter({
              name: 'crossdock_journeys_writes_total',
              help: 'Order-visibility writes to cases by kind (fields, milestone) and outcome (applied, failed, dead)',
              labelNames: ['kind', 'outcome'],
              registers: [options.metrics],
            }),
            latency: new Histogram({
              name: 'crossdock_journeys_propagation_seconds',
              help: 'Time from an ERP change to the case field write that shows it',
              buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
              registers: [options.metrics],
            }),
          };
  }

  /** Starts the poll loops and the sweep; webhooks go through `handleWebhook`. */
  start(): void {
    if (this.#abort !== undefined) return;
    this.#stopped = false;
    const abort = new AbortController();
    this.#abort = abort;
    const { erp, helpdesk } = this.#o.systems;
    for (const stream of this.#erpProfile.polled) {
      this.#loops.push(this.#pollLoop(erp, this.#o.erp, stream, abort.signal));
    }
    for (const stream of this.#helpdeskProfile.polled) {
      this.#loops.push(this.#pollLoop(helpdesk, this.#o.helpdesk, stream, abort.signal));
    }
    this.#loops.push(this.#sweepLoop(abort.signal));
  }

  /** Stops polling and sweeping and waits for writes in flight to finish. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    this.#abort = undefined;
    await Promise.allSettled(this.#loops);
    this.#loops = [];
    this.#queue.clear();
    for (const timer of this.#debounce.values()) clearTimeout(timer);
    this.#debounce.clear();
    await Promise.allSettled([...this.#running]);
  }

  /**
   * Captures a verified webhook of `system` (already parsed JSON, or its text); resolves once its
   * records are durably committed, so the sender may be acknowledged.
   */
  async handleWebhook(
    system: string,
    payload: unknown,
    headers: Readonly<Record<string, string>>,
  ): Promise<void> {
    const connector = this.#connectorOf(system);
    if (connector?.webhooks === undefined) return;
    const rawBody = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
    const request: InboundWebhook = { headers, rawBody, receivedAt: new Date() };
    const parsed = await connector.webhooks.parse(request);
    // The sandbox connectors already make updatedAt unique per record version (sourceUpdatedAt).
    const records = parsed.records;
    const stamp = (payload as { timestamp?: unknown } | null)?.timestamp;
    const sentAt = typeof stamp === 'string' ? Date.parse(stamp) : NaN;
    if (!Number.isNaN(sentAt)) {
      if (this.#hookTimes.size > 100_000) this.#hookTimes.clear();
      for (const r of records) this.#hookTimes.set(versionKey(r.stream, r.externalId, r.updatedAt), sentAt);
    }
    if (records.length > 0) await this.engine.ingest(this.#o.tenantId, system, records);
  }

  /** The streams polled from `system`, one of the journey's two (none for another name). */
  polledStreams(system: string): readonly string[] {
    if (system === this.#o.systems.erp) return this.#erpProfile.polled;
    if (system === this.#o.systems.helpdesk) return this.#helpdeskProfile.polled;
    return [];
  }

  /** Polls every stream once until caught up (tests, and a nudge after an outage). */
  async pollOnce(): Promise<void> {
    const { erp, helpdesk } = this.#o.systems;
    for (const stream of this.#erpProfile.polled) await this.#poll(erp, this.#o.erp, stream);
    for (const stream of this.#helpdeskProfile.polled) await this.#poll(helpdesk, this.#o.helpdesk, stream);
  }

  /** Queues every case with due work (unwritten fields, pending milestones) and returns how many. */
  async sweep(): Promise<number> {
    const cases = (await this.#dueCases()).filter((c) => !this.#debounce.has(c));
    for (const c of cases) this.#kick(c);
    return cases.length;
  }

  /** Resolves when no case has work that is due now, or after `timeoutMs`; true when idle. */
  async idle(timeoutMs = 60_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      // Waiting includes writes whose retry is not due yet: idle means nothing left to write.
      const waiting = await this.#dueCases(true);
      const due = (await this.#dueCases()).filter((c) => !this.#debounce.has(c));
      const busy = this.#queue.size + this.#inFlight.size + this.#debounce.size;
      if (waiting.length === 0 && busy === 0) return true;
      if (Date.now() > until) return false;
      for (const c of due) this.#kick(c);
      await sleep(50);
    }
  }

  stats(): OrderVisibilityStats {
    let oldest = Infinity;
    for (const t of this.#pendingSince.values()) oldest = Math.min(oldest, t);
    return {
      ...this.#counts,
      pendingCases: this.#pendingSince.size,
      lagMs: oldest === Infinity ? 0 : Math.max(0, Date.now() - oldest),
    };
  }

  /** Propagation latencies observed so far (ERP change to case field write), in ms. */
  latencies(): readonly number[] {
    return this.#latencies;
  }

  // ------------------------------------------------------------------------------------------------
  // Capture side: runs inside the capture transaction (await only tx queries).

  async #onChange(tx: StoreTx, change: CapturedChange): Promise<void> {
    tx.afterCommit(() => {
      this.#counts.captured++;
    });
    // The change goes on the event log in this transaction (outbox): committed together or not at all.
    const events = await changeEvents(change, (orderNumber) =>
      findCanonicalId(tx.db<SyncDb>(), change.tenantId, 'order', {
        system: this.#o.systems.erp,
        externalId: orderNumber,
      }),
    );
    if (events.length > 0) await appendEvents(tx, events);
    const { erp, helpdesk } = this.#o.systems;
    if (change.system === erp) {
      const kind = PART_OF_KIND[change.entity.kind];
      if (kind === undefined || change.propagate.length === 0) return;
      // Orders are keyed by the number people use (a Tryton sale's id is not its number); a record
      // without one (a draft sale, a shipment of no known order) is not followed.
      const key = kind === 'order' ? change.fields.number : change.fields.orderNumber;
      if (typeof key !== 'string' || key === '') return;
      const orderNumber = key;
      await tx
        .db<Db>()
        .insertInto('jrn_order_parts')
        .values({
          tenant_id: this.#o.tenantId,
          order_number: orderNumber,
          part_kind: kind,
          part_id: change.externalId,
          fields: JSON.stringify(change.fields),
          source_updated_at: change.updatedAt,
        })
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'order_number', 'part_kind', 'part_id']).doUpdateSet({
            fields: JSON.stringify(change.fields),
            source_updated_at: change.updatedAt,
          }),
        )
        .execute();
      await this.#refreshOrder(tx, orderNumber, this.#sourceTime(change), undefined);
      return;
    }
    if (change.system === helpdesk && change.entity.kind === 'case') {
      const orders = Array.isArray(change.fields.orderNumbers) ? change.fields.orderNumbers : [];
      const orderNumber = orders.find((o): o is string => typeof o === 'string');
      if (orderNumber === undefined) return;
      const db = tx.db<Db>();
      const inserted = await db
        .insertInto('jrn_case_links')
        .values({
          tenant_id: this.#o.tenantId,
          case_id: change.externalId,
          case_key: `${change.entity.kind}:${change.entity.id}`,
          order_number: orderNumber,
          summary: null,
          pending_since: null,
          write_attempts: 0,
          write_next_at: null,
          write_error: null,
          write_failed: 0,
          linked_at: new Date().toISOString(),
        })
        .onConflict((oc) => oc.doNothing())
        .returning('case_id')
        .executeTakeFirst();
      // Already linked: the link follows the first order the case named.
      if (inserted === undefined) return;
      tx.afterCommit(() => {
        this.#counts.casesLinked++;
      });
      // Enriched at once: the case's own arrival is the change to show.
      await this.#refreshOrder(tx, orderNumber, Date.now(), change.externalId);
    }
  }

  /** Recomputes an order's summary and milestones and queues them for its cases (or the one new case). */
  async #refreshOrder(tx: StoreTx, orderNumber: string, sourceMs: number, newCase: string | undefined) {
    const db = tx.db<Db>();
    const rows = await db
      .selectFrom('jrn_order_parts')
      .select(['part_kind', 'fields'])
      .where('tenant_id', '=', this.#o.tenantId)
      .where('order_number', '=', orderNumber)
      .orderBy('part_id')
      .execute();
    const of = (kind: PartKind) =>
      rows.filter((r) => r.part_kind === kind).map((r) => JSON.parse(r.fields) as Fields);
    const parts: OrderParts = {
      orderNumber,
      order: of('order')[0],
      credits: of('credit'),
      shipments: of('shipment'),
      invoices: of('invoice'),
    };
    const summary = orderSummary(parts);
    const milestones = orderMilestones(parts);
    let links = db
      .selectFrom('jrn_case_links')
      .selectAll()
      .where('tenant_id', '=', this.#o.tenantId)
      .where('order_number', '=', orderNumber);
    if (newCase !== undefined) links = links.where('case_id', '=', newCase);
    // Only the values some case field receives: a change to others makes no write, only milestones.
    const fields: Fields | undefined =
      summary === undefined
        ? undefined
        : Object.fromEntries(Object.entries(summary).filter(([k]) => this.#caseFields.has(k)));
    for (const link of await links.execute()) {
      await this.#applyToCase(tx, link, fields, milestones, sourceMs, newCase !== undefined);
    }
  }

  async #applyToCase(
    tx: StoreTx,
    link: JrnCaseLinksTable,
    summary: Fields | undefined,
    milestones: readonly Milestone[],
    sourceMs: number,
    newlyLinked: boolean,
  ): Promise<void> {
    const db = tx.db<Db>();
    const tenant = this.#o.tenantId;
    let touched = false;
    const json = summary === undefined ? null : JSON.stringify(summary);
    if (summary !== undefined && Object.keys(summary).length > 0 && json !== link.summary) {
      await setDesired(tx, tenant, { system: this.#o.systems.helpdesk, recordKey: link.case_key }, summary);
      await db
        .updateTable('jrn_case_links')
        .set({ summary: json, write_attempts: 0, write_next_at: null, write_error: null, write_failed: 0 })
        .where('tenant_id', '=', tenant)
        .where('case_id', '=', link.case_id)
        .execute();
      touched = true;
    }
    const now = new Date().toISOString();
    const fresh: Milestone[] = [];
    let ord = 0;
    for (const m of milestones) {
      const inserted = await db
        .insertInto('jrn_milestones')
        .values({
          tenant_id: tenant,
          case_id: link.case_id,
          milestone_key: m.key,
          ord: ord++,
          body: m.body,
          // Milestones from before the case existed are told once, in the linking comment.
          status: newlyLinked ? 'covered' : 'pending',
          attempts: 0,
          next_at: null,
          last_error: null,
          created_at: now,
          written_at: null,
        })
        .onConflict((oc) => oc.doNothing())
        .returning('milestone_key')
        .executeTakeFirst();
      if (inserted !== undefined) fresh.push(m);
    }
    if (newlyLinked && fresh.length > 0) {
      await db
        .insertInto('jrn_milestones')
        .values({
          tenant_id: tenant,
          case_id: link.case_id,
          milestone_key: 'linked',
          ord,
          body: [
            `Crossdock linked this case to ERP order ${link.order_number}. So far:`,
            ...fresh.map((m) => `- ${m.body}`),
          ].join('\n'),
          status: 'pending',
          attempts: 0,
          next_at: null,
          last_error: null,
          created_at: now,
          written_at: null,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    if (fresh.length > 0) touched = true;
    if (!touched) return;
    // A new change gives writes that had given up another chance.
    await db
      .updateTable('jrn_milestones')
      .set({ status: 'pending', attempts: 0, next_at: null })
      .where('tenant_id', '=', tenant)
      .where('case_id', '=', link.case_id)
      .where('status', '=', 'failed')
      .execute();
    const caseId = link.case_id;
    tx.afterCommit(() => {
      const since = this.#pendingSince.get(caseId);
      if (since === undefined || sourceMs < since) this.#pendingSince.set(caseId, sourceMs);
      this.#kickLater(caseId);
    });
  }

  #sourceTime(change: CapturedChange): number {
    const key = versionKey(change.stream, change.externalId, change.updatedAt);
    const hooked = this.#hookTimes.get(key);
    if (hooked !== undefined) {
      this.#hookTimes.delete(key);
      return hooked;
    }
    // Polled: the system's own stamp, to the second (so latency reads at most 1 s long).
    return Math.floor(Date.parse(change.updatedAt) / 1000) * 1000;
  }

  // ------------------------------------------------------------------------------------------------
  // Propagation side: one worker per case at a time, at most `concurrency` cases at once.

  #kickLater(caseId: string): void {
    if (this.#o.captureOnly === true) return;
    if (this.#coalesceMs <= 0) return this.#kick(caseId);
    if (this.#stopped || this.#debounce.has(caseId)) return;
    const timer = setTimeout(() => {
      this.#debounce.delete(caseId);
      this.#kick(caseId);
    }, this.#coalesceMs);
    this.#debounce.set(caseId, timer);
  }

  #kick(caseId: string): void {
    this.#queue.add(caseId);
    this.#pump();
  }

  #pump(): void {
    if (this.#stopped || this.#o.captureOnly === true) return;
    for (const caseId of this.#queue) {
      if (this.#inFlight.size >= this.#concurrency) return;
      if (this.#inFlight.has(caseId)) continue;
      this.#queue.delete(caseId);
      this.#inFlight.add(caseId);
      const run: Promise<void> = this.#processCase(caseId)
        .catch((error: unknown) => {
          this.#log.error({ err: error, caseId }, 'order-visibility: case propagation crashed');
        })
        .finally(() => {
          this.#inFlight.delete(caseId);
          this.#running.delete(run);
          this.#pump();
        });
      this.#running.add(run);
    }
  }

  async #processCase(caseId: string): Promise<void> {
    const tenant = this.#o.tenantId;
    const link = await this.#o.store
      .db<Db>()
      .selectFrom('jrn_case_links')
      .selectAll()
      .where('tenant_id', '=', tenant)
      .where('case_id', '=', caseId)
      .executeTakeFirst();
    if (link === undefined) return;
    const nowIso = new Date().toISOString();
    if (link.write_failed === 0 && (link.write_next_at === null || link.write_next_at <= nowIso)) {
      await this.#writeFields(link);
    }
    await this.#writeMilestones(link);
  }

  async #writeFields(link: JrnCaseLinksTable): Promise<void> {
    const tenant = this.#o.tenantId;
    const target = { system: this.#o.systems.helpdesk, recordKey: link.case_key };
    const desired = await this.propagator.get(tenant, target);
    if (desired === undefined || desired.appliedVersion >= desired.version) {
      this.#pendingSince.delete(link.case_id);
      return;
    }
    let error: string | undefined;
    try {
      const result = await this.propagator.propagate(tenant, target);
      if (result.status === 'failed') {
        error = `${result.effect.error.code}: ${result.effect.error.message}`;
      }
      if (result.status === 'written') {
        this.#counts.fieldWrites++;
        this.#metrics?.writes.inc({ kind: 'fields', outcome: 'applied' });
      }
    } catch (cause) {
      if (cause instanceof SyncEffectInFlightError) return this.#retryLater(link.case_id, cause);
      error = cause instanceof Error ? cause.message : String(cause);
    }
    if (error === undefined) {
      const caughtUp = await this.#o.store
        .db<Db>()
        .selectFrom('sync_desired')
        .select(['version', 'applied_version'])
        .where('tenant_id', '=', tenant)
        .where('system', '=', target.system)
        .where('record_key', '=', target.recordKey)
        .executeTakeFirst();
      const since = this.#pendingSince.get(link.case_id);
      if (since !== undefined) {
        const ms = Date.now() - since;
        this.#latencies.push(ms);
        this.#metrics?.latency.observe(ms / 1000);
      }
      if (caughtUp !== undefined && Number(caughtUp.applied_version) >= Number(caughtUp.version)) {
        this.#pendingSince.delete(link.case_id);
      } else {
        // A newer change arrived during the write; its own time is not kept per version, so the
        // older start stays (latency then reads long, never short).
        this.#kick(link.case_id);
      }
      if (link.write_attempts > 0) {
        await this.#o.store.durable(async (tx) => {
          await tx
            .db<Db>()
            .updateTable('jrn_case_links')
            .set({ write_attempts: 0, write_next_at: null, write_error: null })
            .where('tenant_id', '=', tenant)
            .where('case_id', '=', link.case_id)
            .execute();
        });
      }
      return;
    }
    this.#counts.writeFailures++;
    const attempts = link.write_attempts + 1;
    const dead = attempts >= this.#maxAttempts;
    this.#metrics?.writes.inc({ kind: 'fields', outcome: dead ? 'dead' : 'failed' });
    this.#log.warn({ caseId: link.case_id, attempts, error }, 'order-visibility: case field write failed');
    await this.#o.store.durable(async (tx) => {
      await tx
        .db<Db>()
        .updateTable('jrn_case_links')
        .set({
          write_attempts: attempts,
          write_error: error,
          write_next_at: new Date(Date.now() + this.#backoff(attempts)).toISOString(),
          write_failed: dead ? 1 : 0,
        })
        .where('tenant_id', '=', tenant)
        .where('case_id', '=', link.case_id)
        .execute();
      if (dead) {
        const failure = new JourneyWriteFailedError(JOURNEY, `case ${link.case_id} fields`, attempts, error);
        await writeDeadLetter(tx, tenant, failure.code, link.case_key, {
          journey: JOURNEY,
          caseId: link.case_id,
          order: link.order_number,
          write: 'fields',
          attempts,
          lastError: error,
        });
      }
    });
    if (dead) {
      this.#counts.deadLetters++;
      this.#pendingSince.delete(link.case_id);
    }
  }

  async #writeMilestones(link: JrnCaseLinksTable): Promise<void> {
    const tenant = this.#o.tenantId;
    const nowIso = new Date().toISOString();
    const due = await this.#o.store
      .db<Db>()
      .selectFrom('jrn_milestones')
      .selectAll()
      .where('tenant_id', '=', tenant)
      .where('case_id', '=', link.case_id)
      .where('status', '=', 'pending')
      .orderBy('created_at')
      .orderBy('ord')
      .execute();
    for (const m of due) {
      // Keep the lifecycle order: a milestone waiting for its retry holds back the ones after it.
      if (m.next_at !== null && m.next_at > nowIso) return;
      let error: string | undefined;
      try {
        const result = await this.ledger.perform(
          tenant,
          this.#o.systems.helpdesk,
          this.#o.helpdesk,
          `${link.case_key}:milestone:${m.milestone_key}`,
          this.#helpdeskProfile.commentCommand(link.case_id, m.body),
        );
        if (result.status !== 'applied') error = `${result.error.code}: ${result.error.message}`;
      } catch (cause) {
        if (cause instanceof SyncEffectInFlightError) return this.#retryLater(link.case_id, cause);
        error = cause instanceof Error ? cause.message : String(cause);
      }
      const attempts = m.attempts + 1;
      const dead = error !== undefined && attempts >= this.#maxAttempts;
      const reason = error ?? '';
      await this.#o.store.durable(async (tx) => {
        await tx
          .db<Db>()
          .updateTable('jrn_milestones')
          .set(
            error === undefined
              ? { status: 'written', attempts, written_at: new Date().toISOString(), last_error: null }
              : {
                  status: dead ? 'failed' : 'pending',
                  attempts,
                  last_error: error,
                  next_at: new Date(Date.now() + this.#backoff(attempts)).toISOString(),
                },
          )
          .where('tenant_id', '=', tenant)
          .where('case_id', '=', m.case_id)
          .where('milestone_key', '=', m.milestone_key)
          .execute();
        if (dead) {
          const failure = new JourneyWriteFailedError(
            JOURNEY,
            `case ${m.case_id} milestone`,
            attempts,
            reason,
          );
          await writeDeadLetter(tx, tenant, failure.code, `${link.case_key}:milestone:${m.milestone_key}`, {
            journey: JOURNEY,
            caseId: m.case_id,
            milestone: m.milestone_key,
            attempts,
            lastError: reason,
          });
        }
      });
      if (error === undefined) {
        this.#counts.milestonesWritten++;
        this.#metrics?.writes.inc({ kind: 'milestone', outcome: 'applied' });
        continue;
      }
      this.#counts.writeFailures++;
      this.#metrics?.writes.inc({ kind: 'milestone', outcome: dead ? 'dead' : 'failed' });
      this.#log.warn(
        { caseId: m.case_id, milestone: m.milestone_key, attempts, error },
        'order-visibility: milestone write failed',
      );
      if (dead) this.#counts.deadLetters++;
      return;
    }
  }

  /**
   * Another attempt of the same write is in flight (in this process, or in one that shares the store):
   * not a failure, so no attempt is counted; the case is looked at again when that attempt's lease ends.
   */
  #retryLater(caseId: string, cause: SyncEffectInFlightError): void {
    const wait = Math.max(100, Math.min(this.#maxDelayMs, cause.retryAfterMs ?? this.#baseDelayMs));
    this.#log.debug(
      { caseId, waitMs: wait },
      'order-visibility: write in flight elsewhere, looking again later',
    );
    const timer = setTimeout(() => {
      if (!this.#stopped) this.#kick(caseId);
    }, wait);
    timer.unref();
  }

  #backoff(attempts: number): number {
    return Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.max(0, attempts - 1));
  }

  /** Cases with writes due now, or with any unfinished write (`includeLater`: retries not due yet). */
  async #dueCases(includeLater = false): Promise<string[]> {
    const tenant = this.#o.tenantId;
    // Far in the future: every retry time is before it.
    const nowIso = includeLater ? '9999' : new Date().toISOString();
    const db = this.#o.store.db<Db>();
    const fields = await db
      .selectFrom('jrn_case_links as l')
      .innerJoin('sync_desired as d', (j) =>
        j
          .onRef('d.record_key', '=', 'l.case_key')
          .onRef('d.tenant_id', '=', 'l.tenant_id')
          .on('d.system', '=', this.#o.systems.helpdesk),
      )
      .select('l.case_id')
      .where('l.tenant_id', '=', tenant)
      .where('l.write_failed', '=', 0)
      .where((eb) => eb.or([eb('l.write_next_at', 'is', null), eb('l.write_next_at', '<=', nowIso)]))
      .where(sql<boolean>`d.applied_version < d.version`)
      .execute();
    const milestones = await db
      .selectFrom('jrn_milestones')
      .select('case_id')
      .distinct()
      .where('tenant_id', '=', tenant)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('next_at', 'is', null), eb('next_at', '<=', nowIso)]))
      .execute();
    return [...new Set([...fields.map((r) => r.case_id), ...milestones.map((r) => r.case_id)])];
  }

  async #linkByKey(caseKey: string): Promise<JrnCaseLinksTable | undefined> {
    return this.#o.store
      .db<Db>()
      .selectFrom('jrn_case_links')
      .selectAll()
      .where('tenant_id', '=', this.#o.tenantId)
      .where('case_key', '=', caseKey)
      .executeTakeFirst();
  }

  #connectorOf(system: string): Connector | undefined {
    if (system === this.#o.systems.erp) return this.#o.erp;
    if (system === this.#o.systems.helpdesk) return this.#o.helpdesk;
    return undefined;
  }

  async #poll(system: string, connector: Connector, stream: string, signal?: AbortSignal) {
    return this.engine.poll(
      this.#o.tenantId,
      system,
      connector,
      stream,
      // At the connector's default priority, `low`: when the system's budget is short (RT serves two
      // requests at a time), the case writes waiting go first and polling waits.
      signal === undefined ? {} : { signal },
    );
  }

  async #pollLoop(system: string, connector: Connector, stream: string, signal: AbortSignal): Promise<void> {
    const interval = this.#o.pollIntervalMs ?? 2000;
    let failures = 0;
    while (!signal.aborted) {
      let wait = interval;
      try {
        const result = await this.#poll(system, connector, stream, signal);
        failures = 0;
        if (result.hasMore) wait = 0;
      } catch (error) {
        if (signal.aborted) return;
        failures++;
        this.#counts.pollErrors++;
        // A down system is polled less often, up to a minute apart.
        wait = Math.min(60_000, interval * 2 ** Math.min(failures, 5));
        this.#log.warn({ err: error, system, stream, failures }, 'order-visibility: poll failed');
      }
      await sleep(wait, signal);
    }
  }

  async #sweepLoop(signal: AbortSignal): Promise<void> {
    const interval = this.#o.sweepIntervalMs ?? 1000;
    while (!signal.aborted) {
      try {
        await this.sweep();
      } catch (error) {
        this.#log.warn({ err: error }, 'order-visibility: sweep failed');
      }
      await sleep(interval, signal);
    }
  }
}

function versionKey(stream: string, externalId: string, updatedAt: string): string {
  // Versioned stamps end in the version (`.000007Z`); the key survives the engine's normalisation.
  return `${stream}:${externalId}:${updatedAt.slice(0, 26)}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
