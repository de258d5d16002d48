// An embedded Crossdock pipeline wired to a running sandbox: the sandbox ERP and helpdesk connectors,
// the order-visibility journey on a store (its own temp SQLite unless one is lent), and a small HTTP
// server taking the sandbox systems' signed webhooks at `/hooks/{system}` (the events part's
// `inboundHookRoutes`, acknowledged only after the records are committed). Used by `crossdock demo`,
// `crossdock start --demo` and the journey tests; never by a configured production service.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { SandboxErpConnector } from '../../connectors/sandbox-erp/index.ts';
import { SandboxHelpdeskConnector } from '../../connectors/sandbox-helpdesk/index.ts';
import { inboundHookRoutes } from '../../events/index.ts';
import { generateWebhookSecret, type Sandbox } from '../../sandbox/index.ts';
import { openStore, storeMigrations, type Store } from '../../store/index.ts';
import { FieldOwnership, syncMigrations } from '../../sync/index.ts';
import { eventsMigrations } from '../../events/index.ts';
import { silentLogger, type Logger, type MetricsRegistry } from '../../telemetry/index.ts';
import { journeysMigrations } from '../order-visibility/migrations.ts';
import { OrderVisibilityJourney, type RetryOptions } from '../order-visibility/order-visibility-journey.ts';

export interface EmbeddedPipelineOptions {
  readonly sandbox: Sandbox;
  /** Store to use, already migrated with the events, sync and `journeysMigrations` (default: a fresh temp SQLite store). */
  readonly store?: Store;
  /** Tenant the records belong to (default `demo`). */
  readonly tenantId?: string;
  /** Subscribe to the sandbox webhooks (default true); without them capture is by polling only. */
  readonly webhooks?: boolean;
  /** Poll interval of caught-up streams, in ms (default 2000 with webhooks, 500 without). */
  readonly pollIntervalMs?: number;
  /** Helpdesk requests per second Crossdock allows itself (default 40; the helpdesk allows 50). */
  readonly helpdeskRatePerSecond?: number;
  /** Cases written at once (default 8). */
  readonly concurrency?: number;
  readonly retry?: RetryOptions;
  /**
   * Start poll loops and the sweep (default true). When false, capture happens only on webhooks and
   * `journey.pollOnce()`, and writes when asked (`journey.idle()`): tests use it to hold a burst.
   */
  readonly start?: boolean;
  readonly logger?: Logger;
  readonly metrics?: MetricsRegistry;
}

export interface EmbeddedPipeline {
  readonly journey: OrderVisibilityJourney;
  readonly store: Store;
  /** Base URL of the webhook receiver, e.g. `http://127.0.0.1:41234` (undefined without webhooks). */
  readonly hooksUrl: string | undefined;
  stop(): Promise<void>;
}

const SYSTEMS = { erp: 'erp', helpdesk: 'helpdesk' } as const;

export async function startEmbeddedPipeline(options: EmbeddedPipelineOptions): Promise<EmbeddedPipeline> {
  const { sandbox } = options;
  const logger = options.logger ?? silentLogger();
  const tenantId = options.tenantId ?? 'demo';
  const useHooks = options.webhooks ?? true;
  let tempDir: string | undefined;
  let store = options.store;
  if (store === undefined) {
    tempDir = mkdtempSync(join(tmpdir(), 'cd-demo-'));
    store = await openStore(
      { dialect: 'sqlite', sqlite: { path: join(tempDir, 'crossdock.db') } },
      { logger },
    );
    await store.migrate([...storeMigrations, ...eventsMigrations, ...syncMigrations, ...journeysMigrations]);
  }
  const erp = new SandboxErpConnector(
    { url: sandbox.urls.erp, timeoutMs: 5000 },
    { apiKey: sandbox.apiKeys.erp },
    { logger },
  );
  const helpdesk = new SandboxHelpdeskConnector(
    {
      url: sandbox.urls.helpdesk,
      timeoutMs: 5000,
      ratePerSecond: options.helpdeskRatePerSecond ?? 40,
      maxInFlight: 8,
    },
    { apiKey: sandbox.apiKeys.helpdesk },
    { logger },
  );
  const journey = new OrderVisibilityJourney({
    store,
    tenantId,
    systems: SYSTEMS,
    erp,
    helpdesk,
    ownership: new FieldOwnership({ systems: { erp: 'erp', helpdesk: 'helpdesk' } }),
    pollIntervalMs: options.pollIntervalMs ?? (useHooks ? 2000 : 500),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    logger,
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  });

  let app: FastifyInstance | undefined;
  let hooksUrl: string | undefined;
  const subscriptions: { system: 'erp' | 'helpdesk'; id: string }[] = [];
  if (useHooks) {
    const erpSub = { secret: generateWebhookSecret() };
    const hdSub = { secret: generateWebhookSecret() };
    app = Fastify({ logger: false });
    const commit = (
      _tenant: string,
      system: string,
      payload: unknown,
      headers: Readonly<Record<string, string>>,
    ) => journey.handleWebhook(system, payload, headers);
    await app.register(inboundHookRoutes, {
      systems: {
        [SYSTEMS.erp]: { verify: { secret: erpSub.secret }, tenant: tenantId, commit },
        [SYSTEMS.helpdesk]: { verify: { secret: hdSub.secret }, tenant: tenantId, commit },
      },
    });
    hooksUrl = await app.listen({ host: '127.0.0.1', port: 0 });
    subscriptions.push({
      system: 'erp',
      id: sandbox.erp.webhooks.subscribe({ url: `${hooksUrl}/hooks/${SYSTEMS.erp}`, secret: erpSub.secret })
        .id,
    });
    subscriptions.push({
      system: 'helpdesk',
      id: sandbox.helpdesk.webhooks.subscribe({
        url: `${hooksUrl}/hooks/${SYSTEMS.helpdesk}`,
        secret: hdSub.secret,
        events: ['case.created', 'case.updated'],
      }).id,
    });
  }
  if (options.start !== false) journey.start();

  const ownStore = options.store === undefined;
  return {
    journey,
    store,
    hooksUrl,
    async stop() {
      for (const s of subscriptions) sandbox[s.system].webhooks.unsubscribe(s.id);
      await journey.stop();
      await app?.close();
      await erp.close();
      await helpdesk.close();
      if (ownStore) {
        await store.close();
        if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
      }
    },
  };
}
