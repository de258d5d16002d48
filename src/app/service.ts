// The composition root: the only place that chooses implementations. It opens the store, builds
// each part with what it needs, registers their routes on the app, starts background work, and
// stops everything in reverse order on shutdown.
import type { FastifyInstance } from 'fastify';
import {
  ApiKeyAuthenticator,
  buildApp,
  type ApiKeySpec,
  type ReadinessCheck,
  type RoutePlugin,
} from '../api/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import { createMetricsRegistry, type Logger, type MetricsRegistry } from '../telemetry/index.ts';
import type { Store } from '../store/index.ts';
import {
  startDemoPipeline,
  startJourneys,
  systemBudgetSettings,
  type DemoPipeline,
  type RunningJourneys,
} from '../journeys/index.ts';
import { EventService, clusterOptionsOf, eventsAdminRoutes, eventStreamRoutes } from '../events/index.ts';
import {
  WorkflowAdminService,
  WorkflowRuntime,
  registerWorkflowMetrics,
  workflowAdminRoutes,
} from '../workflow/index.ts';
import { ensureAdminKey } from './admin-key.ts';
import { migrateStore, openConfiguredStore, sqlitePathOf, storeReadiness } from './store-setup.ts';
import { acquireProcessLock } from './process-lock.ts';
import { VERSION } from './version.ts';

/** Something with a lifetime inside the service: started in order, stopped in reverse. */
export interface Component {
  readonly name: string;
  start?(): Promise<void>;
  stop?(): Promise<void>;
  readiness?: ReadinessCheck;
  routes?: readonly RoutePlugin[];
}

export interface ServiceOptions {
  readonly loaded: LoadedConfig;
  readonly logger: Logger;
  /** Start the sandbox systems and the traffic generator (embedded demo). */
  readonly demo?: boolean;
}

export interface RunningService {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly workflows: WorkflowRuntime;
  readonly events: EventService;
  readonly url: string;
  readonly metrics: MetricsRegistry;
  /** Stops accepting requests, lets in-flight work finish, stops components, closes stores. */
  stop(): Promise<void>;
}

export async function startService(options: ServiceOptions): Promise<RunningService> {
  const { loaded, logger } = options;
  const { config } = loaded;
  const metrics = createMetricsRegistry();
  const started: Component[] = [];
  let shuttingDown = false;

  const keys: ApiKeySpec[] = [...config.auth.apiKeys];
  if (keys.length === 0) {
    const admin = ensureAdminKey(config.dataDir);
    keys.push(admin.key);
    logger.info(
      { path: admin.path, created: admin.created },
      'no API keys configured: using the bootstrap admin key file',
    );
  }

  const stopComponents = async () => {
    for (const c of [...started].reverse()) {
      try {
        await c.stop?.();
      } catch (error) {
        logger.error({ err: error, component: c.name }, 'component failed to stop cleanly');
      }
    }
    started.length = 0;
  };

  // The embedded mode is one process per database file (see process-lock.ts).
  const lock = config.store.dialect === 'sqlite' ? acquireProcessLock(sqlitePathOf(config)) : undefined;
  let store: Store;
  try {
    store = await openConfiguredStore(config, { logger, metrics });
  } catch (error) {
    lock?.release();
    throw error;
  }
  const storeComponent: Component = {
    name: 'store',
    readiness: storeReadiness(store),
    stop: async () => {
      await store.close();
      lock?.release();
    },
  };
  started.push(storeComponent);
  // Cluster mode when `events.nats` is set (the config loader allows it only on PostgreSQL).
  const cluster = clusterOptionsOf(config.events);
  const events = new EventService({
    store,
    logger: logger.child({ part: 'events' }),
    metrics,
    ...(config.store.dialect === 'postgres' && config.store.postgresUrl !== undefined
      ? { listenUrl: config.store.postgresUrl }
      : {}),
    ...(cluster === undefined ? {} : { cluster }),
  });
  const natsCluster = events.cluster;
  const workflows = new WorkflowRuntime({ store, logger: logger.child({ part: 'workflow' }) });
  registerWorkflowMetrics(workflows.events, metrics, workflows);
  const runsAdmin = new WorkflowAdminService({ store, runtime: workflows });
  const components: Component[] = [
    {
      name: 'events',
      start: () => events.start(),
      stop: () => events.stop(),
      ...(natsCluster === undefined ? {} : { readiness: { name: 'nats', check: () => natsCluster.check() } }),
      routes: [
        { plugin: eventsAdminRoutes, options: { admin: events.admin, webhooks: events.webhooks } },
        { plugin: eventStreamRoutes, options: { log: events.log } },
      ],
    },
    {
      name: 'workflows',
      // Recovery of runs left in flight by a previous process happens in launch().
      start: () => workflows.launch(),
      stop: () => workflows.shutdown({ drainMs: config.server.shutdownTimeoutMs }),
      routes: [{ plugin: workflowAdminRoutes, options: { admin: runsAdmin } }],
    },
  ];

  const journeysConfigured = config.journeys?.orderVisibility !== undefined;
  try {
    const migrated = await migrateStore(store);
    logger.info(
      { dialect: store.dialect, applied: migrated.applied, upToDate: migrated.alreadyApplied.length },
      'store ready',
    );
    for (const c of components) {
      await c.start?.();
      started.push(c);
    }
    if (journeysConfigured) {
      const journeys: RunningJourneys = await startJourneys({
        config,
        store,
        defaultTenant: config.tenants[0]?.id ?? 'default',
        logger: logger.child({ part: 'journeys' }),
        metrics,
        // One budget per system, in the store: connectors, queues and workflow steps calling the
        // same system, in this process and in others on the store (a backfill too), share it.
        rateBudget: (name, system) => workflows.budgets.forSystem(name, systemBudgetSettings(system)),
      });
      started.push({ name: 'journeys', stop: () => journeys.stop(), routes: journeys.routes });
    }
    if (options.demo === true) {
      // The sandbox systems on 7401-7404, generated traffic and the order-visibility journey between
      // them, on this service's store. Metrics are left to configured journeys when there are some.
      const demo: DemoPipeline = await startDemoPipeline({
        store,
        tenantId: config.tenants[0]?.id ?? 'default',
        logger: logger.child({ part: 'demo' }),
        ...(journeysConfigured ? {} : { metrics }),
      });
      started.push({ name: 'demo', stop: () => demo.stop() });
      logger.info({ sandbox: demo.sandbox.urls }, 'demo: sandbox systems and traffic started');
    }
  } catch (error) {
    await stopComponents();
    throw error;
  }

  const app = await buildApp({
    config,
    logger,
    metrics,
    authenticator: new ApiKeyAuthenticator(keys),
    readiness: started.flatMap((c) => (c.readiness ? [c.readiness] : [])),
    plugins: started.flatMap((c) => c.routes ?? []),
    version: VERSION,
    isShuttingDown: () => shuttingDown,
  });
  let url: string;
  try {
    url = await app.listen({ host: config.server.host, port: config.server.port });
  } catch (error) {
    await stopComponents();
    throw error;
  }
  logger.info(
    { url, tenants: config.tenants.map((t) => t.id), demo: options.demo === true },
    'crossdock started',
  );

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      shuttingDown = true;
      logger.info('shutting down: no new requests, finishing in-flight work');
      const deadline = new Promise<'timeout'>((r) =>
        setTimeout(() => r('timeout'), config.server.shutdownTimeoutMs).unref(),
      );
      const closed = app.close().then(() => 'closed' as const);
      if ((await Promise.race([closed, deadline])) === 'timeout') {
        logger.warn(
          { timeoutMs: config.server.shutdownTimeoutMs },
          'in-flight requests did not finish in time',
        );
      }
      await stopComponents();
      logger.info('stopped');
    })();
    return stopping;
  };
  return { app, url, store, workflows, events, metrics, stop };
}
