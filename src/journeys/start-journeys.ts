// Starts the configured journeys inside the service: opens the connectors of the systems a journey
// names, starts capture (poll loops, and webhooks through the `/hooks/{system}` routes returned here)
// and propagation. The composition root calls it after migrating the store with `journeysMigrations`.
import type { RoutePlugin } from '../api/index.ts';
import type { Connector } from '../connectors/index.ts';
import { SandboxErpConnector } from '../connectors/sandbox-erp/index.ts';
import { SandboxHelpdeskConnector } from '../connectors/sandbox-helpdesk/index.ts';
import { inboundHookRoutes, type InboundHookSystem } from '../events/index.ts';
import type { Store } from '../store/index.ts';
import { FieldOwnership } from '../sync/index.ts';
import type { Logger, MetricsRegistry } from '../telemetry/index.ts';
import type { JourneysConfig, SystemConfig } from './config.ts';
import { JourneyConfigInvalidError } from './errors.ts';
import {
  OrderVisibilityJourney,
  type OrderVisibilityStats,
} from './order-visibility/order-visibility-journey.ts';

export interface StartJourneysOptions {
  /** The loaded configuration (only `systems`, `journeys`, `mappings`, `ownership` are read). */
  readonly config: JourneysConfig;
  /** Store migrated with `journeysMigrations` (and the sync part's). */
  readonly store: Store;
  /** Tenant of journeys that do not name one (default `default`). */
  readonly defaultTenant?: string;
  readonly logger: Logger;
  readonly metrics?: MetricsRegistry;
}

export interface JourneysStats {
  readonly orderVisibility?: OrderVisibilityStats;
}

export interface RunningJourneys {
  stop(): Promise<void>;
  stats(): JourneysStats;
  /**
   * Webhook receivers of the systems with a `webhookSecret`, for the events part's
   * `inboundHookRoutes` (merge them with other systems' if that plugin is registered once already).
   */
  readonly hookSystems: Readonly<Record<string, InboundHookSystem>>;
  /** `inboundHookRoutes` with `hookSystems` (empty when no system takes webhooks). */
  readonly routes: readonly RoutePlugin[];
}

export async function startJourneys(options: StartJourneysOptions): Promise<RunningJourneys> {
  const { config, logger } = options;
  const ov = config.journeys?.orderVisibility;
  if (ov === undefined || ov.enabled === false) {
    return { stop: () => Promise.resolve(), stats: () => ({}), hookSystems: {}, routes: [] };
  }
  const systemOf = (name: string, connector: SystemConfig['connector']): SystemConfig => {
    const system = config.systems?.[name];
    if (system === undefined)
      throw new JourneyConfigInvalidError('orderVisibility', `system ${name} is not configured`);
    if (system.connector !== connector) {
      throw new JourneyConfigInvalidError(
        'orderVisibility',
        `system ${name} uses connector ${system.connector}, the journey needs ${connector}`,
      );
    }
    return system;
  };
  const erpConfig = systemOf(ov.erp, 'sandbox-erp');
  const helpdeskConfig = systemOf(ov.helpdesk, 'sandbox-helpdesk');
  const deps = {
    logger: logger.child({ part: 'connectors' }),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  };
  const erp: Connector = new SandboxErpConnector(
    {
      url: erpConfig.baseUrl,
      ...(erpConfig.timeoutMs === undefined ? {} : { timeoutMs: erpConfig.timeoutMs }),
      ...(erpConfig.ratePerSecond === undefined ? {} : { ratePerSecond: erpConfig.ratePerSecond }),
    },
    {
      apiKey: erpConfig.apiKey,
      ...(erpConfig.webhookSecret === undefined ? {} : { webhookSecret: erpConfig.webhookSecret }),
    },
    deps,
  );
  const helpdesk: Connector = new SandboxHelpdeskConnector(
    {
      url: helpdeskConfig.baseUrl,
      ...(helpdeskConfig.timeoutMs === undefined ? {} : { timeoutMs: helpdeskConfig.timeoutMs }),
      ...(helpdeskConfig.ratePerSecond === undefined ? {} : { ratePerSecond: helpdeskConfig.ratePerSecond }),
    },
    {
      apiKey: helpdeskConfig.apiKey,
      ...(helpdeskConfig.webhookSecret === undefined ? {} : { webhookSecret: helpdeskConfig.webhookSecret }),
    },
    deps,
  );
  const tenantId = ov.tenant ?? options.defaultTenant ?? 'default';
  const journey = new OrderVisibilityJourney({
    store: options.store,
    tenantId,
    systems: { erp: ov.erp, helpdesk: ov.helpdesk },
    erp,
    helpdesk,
    ownership: new FieldOwnership({
      systems: { [ov.erp]: 'erp', [ov.helpdesk]: 'helpdesk' },
      ...(config.ownership === undefined ? {} : { config: config.ownership }),
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    }),
    pollIntervalMs: Math.min(erpConfig.pollIntervalMs ?? 2000, helpdeskConfig.pollIntervalMs ?? 2000),
    ...(ov.concurrency === undefined ? {} : { concurrency: ov.concurrency }),
    ...(ov.maxAttempts === undefined ? {} : { retry: { maxAttempts: ov.maxAttempts } }),
    ...(config.mappings?.orderVisibility?.caseFields === undefined
      ? {}
      : { caseFields: config.mappings.orderVisibility.caseFields }),
    logger: logger.child({ part: 'journeys', journey: 'order-visibility' }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  });
  const hookSystems: Record<string, InboundHookSystem> = {};
  for (const [name, system] of [
    [ov.erp, erpConfig],
    [ov.helpdesk, helpdeskConfig],
  ] as const) {
    if (system.webhookSecret === undefined) continue;
    hookSystems[name] = {
      verify: { secret: system.webhookSecret },
      tenant: tenantId,
      commit: (_tenant, systemName, payload, headers) => journey.handleWebhook(systemName, payload, headers),
    };
  }
  journey.start();
  return {
    async stop() {
      await journey.stop();
      await erp.close();
      await helpdesk.close();
    },
    stats: () => ({ orderVisibility: journey.stats() }),
    hookSystems,
    routes:
      Object.keys(hookSystems).length === 0
        ? []
        : [{ plugin: inboundHookRoutes, options: { systems: hookSystems } }],
  };
}
