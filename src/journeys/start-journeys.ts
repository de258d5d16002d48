// Starts the configured journeys inside the service: opens the connectors of the systems a journey
// names, starts capture (poll loops, and webhooks through the `/hooks/{system}` routes returned here)
// and propagation. The composition root calls it after migrating the store with `journeysMigrations`.
import type { RoutePlugin } from '../api/index.ts';
import type { Connector, RateBudget } from '../connectors/index.ts';
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
import {
  ERP_PROFILES,
  HELPDESK_PROFILES,
  type ErpConnectorType,
  type HelpdeskConnectorType,
} from './order-visibility/system-profiles.ts';
import { openSystemConnector, systemConfigIssues } from './system-connectors.ts';

export interface StartJourneysOptions {
  /** The loaded configuration (only `systems`, `journeys`, `mappings`, `ownership` are read). */
  readonly config: JourneysConfig;
  /** Store migrated with `journeysMigrations` (and the sync part's). */
  readonly store: Store;
  /** Tenant of journeys that do not name one (default `default`). */
  readonly defaultTenant?: string;
  readonly logger: Logger;
  readonly metrics?: MetricsRegistry;
  /** Capture only, write nothing (see `OrderVisibilityOptions.captureOnly`; default false). */
  readonly captureOnly?: boolean;
  /** The shared rate budget of a system, by name (default: each connector's own, in-process). */
  readonly rateBudget?: (system: string, config: SystemConfig) => RateBudget | undefined;
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

/** The order-visibility journey built from the configuration, with its connectors, not started. */
export interface OrderVisibilitySetup {
  readonly journey: OrderVisibilityJourney;
  readonly tenantId: string;
  /** Configured names of the journey's systems. */
  readonly systems: { readonly erp: string; readonly helpdesk: string };
  readonly connectors: Readonly<Record<string, Connector>>;
  readonly systemConfigs: Readonly<Record<string, SystemConfig>>;
  /** Stops the journey (if started) and closes its connectors. */
  close(): Promise<void>;
}

const isErp = (c: SystemConfig['connector']): c is ErpConnectorType => c in ERP_PROFILES;
const isHelpdesk = (c: SystemConfig['connector']): c is HelpdeskConnectorType => c in HELPDESK_PROFILES;

/**
 * Problems with the journeys and the systems they use, each naming its key (empty: none). Checked by
 * `crossdock config validate` and before a journey starts.
 */
export function journeysConfigIssues(config: JourneysConfig): string[] {
  const issues: string[] = [];
  for (const [name, system] of Object.entries(config.systems ?? {})) {
    issues.push(...systemConfigIssues(name, system));
  }
  const ov = config.journeys?.orderVisibility;
  if (ov === undefined || ov.enabled === false) return issues;
  for (const role of ['erp', 'helpdesk'] as const) {
    const name = ov[role];
    const system = config.systems?.[name];
    if (system === undefined) {
      issues.push(`journeys.orderVisibility.${role}: system ${name} is not configured under systems`);
      continue;
    }
    const fits = role === 'erp' ? isErp(system.connector) : isHelpdesk(system.connector);
    if (!fits) {
      issues.push(
        `journeys.orderVisibility.${role}: system ${name} uses connector ${system.connector}, not ${role === 'erp' ? 'an ERP (sandbox-erp, tryton)' : 'a helpdesk (sandbox-helpdesk, request-tracker)'}`,
      );
    }
  }
  if (ov.orderNumberPattern !== undefined) {
    try {
      if (new RegExp(ov.orderNumberPattern).test('')) {
        issues.push(
          'journeys.orderVisibility.orderNumberPattern: matches an empty text, so it names no order',
        );
      }
    } catch (error) {
      issues.push(
        `journeys.orderVisibility.orderNumberPattern: not a regular expression (${(error as Error).message})`,
      );
    }
  }
  // Request Tracker refuses custom fields it was not told about: every mapped field must be listed.
  const helpdesk = config.systems?.[ov.helpdesk];
  if (helpdesk?.connector === 'request-tracker') {
    const allowed = helpdesk.customFields ?? ['ERP Order', 'ERP Customer'];
    const mapped = { ...HELPDESK_PROFILES['request-tracker'].defaultCaseFields };
    for (const [key, field] of Object.entries(config.mappings?.orderVisibility?.caseFields ?? {})) {
      if (field !== undefined) mapped[key as keyof typeof mapped] = field;
    }
    for (const [key, field] of Object.entries(mapped)) {
      if (field !== null && !allowed.includes(field)) {
        issues.push(
          `mappings.orderVisibility.caseFields.${key}: ${field} is not in systems.${ov.helpdesk}.customFields (${allowed.join(', ')})`,
        );
      }
    }
  }
  return issues;
}

/**
 * Builds the order-visibility journey the configuration describes (undefined when it has none or it
 * is disabled). Used by `startJourneys` and by `crossdock sync backfill`, which captures through it.
 */
export function buildOrderVisibility(options: StartJourneysOptions): OrderVisibilitySetup | undefined {
  const { config, logger } = options;
  const ov = config.journeys?.orderVisibility;
  if (ov === undefined || ov.enabled === false) return undefined;
  const issues = journeysConfigIssues(config);
  if (issues.length > 0) throw new JourneyConfigInvalidError('orderVisibility', issues.join('; '));
  const erpConfig = config.systems![ov.erp]!;
  const helpdeskConfig = config.systems![ov.helpdesk]!;
  const open = (name: string, system: SystemConfig) => {
    const budget = options.rateBudget?.(name, system);
    return openSystemConnector(name, system, {
      logger: logger.child({ part: 'connectors', system: name }),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...(budget === undefined ? {} : { rateBudget: budget }),
    });
  };
  const erp = open(ov.erp, erpConfig);
  let helpdesk: Connector;
  try {
    helpdesk = open(ov.helpdesk, helpdeskConfig);
  } catch (error) {
    void erp.close();
    throw error;
  }
  const tenantId = ov.tenant ?? options.defaultTenant ?? 'default';
  const journey = new OrderVisibilityJourney({
    store: options.store,
    tenantId,
    systems: { erp: ov.erp, helpdesk: ov.helpdesk },
    erp,
    helpdesk,
    profiles: {
      erp: ERP_PROFILES[erpConfig.connector as ErpConnectorType],
      helpdesk: HELPDESK_PROFILES[helpdeskConfig.connector as HelpdeskConnectorType],
    },
    ...(ov.orderNumberPattern === undefined ? {} : { orderNumberPattern: ov.orderNumberPattern }),
    ...(options.captureOnly === true ? { captureOnly: true } : {}),
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
  return {
    journey,
    tenantId,
    systems: { erp: ov.erp, helpdesk: ov.helpdesk },
    connectors: { [ov.erp]: erp, [ov.helpdesk]: helpdesk },
    systemConfigs: { [ov.erp]: erpConfig, [ov.helpdesk]: helpdeskConfig },
    async close() {
      await journey.stop();
      await erp.close();
      await helpdesk.close();
    },
  };
}

export async function startJourneys(options: StartJourneysOptions): Promise<RunningJourneys> {
  const { logger } = options;
  const setup = buildOrderVisibility(options);
  if (setup === undefined) {
    return { stop: () => Promise.resolve(), stats: () => ({}), hookSystems: {}, routes: [] };
  }
  const { journey, tenantId } = setup;
  // A system that is down or misconfigured is reported, not fatal: capture retries until it answers.
  for (const [name, connector] of Object.entries(setup.connectors)) {
    connector
      .check()
      .then((result) => {
        const failed = result.items.filter((i) => !i.ok);
        if (failed.length === 0)
          logger.info({ system: name, details: result.details }, 'system check passed');
        else logger.error({ system: name, failed }, 'system check failed: see the messages for what to fix');
      })
      .catch((error: unknown) => logger.warn({ err: error, system: name }, 'system check could not run'));
  }
  const hookSystems: Record<string, InboundHookSystem> = {};
  for (const [name, system] of Object.entries(setup.systemConfigs)) {
    if (system.webhookSecret === undefined) continue;
    hookSystems[name] = {
      verify: { secret: system.webhookSecret },
      tenant: tenantId,
      commit: (_tenant, systemName, payload, headers) => journey.handleWebhook(systemName, payload, headers),
    };
  }
  journey.start();
  return {
    stop: () => setup.close(),
    stats: () => ({ orderVisibility: journey.stats() }),
    hookSystems,
    routes:
      Object.keys(hookSystems).length === 0
        ? []
        : [{ plugin: inboundHookRoutes, options: { systems: hookSystems } }],
  };
}
