// Opens the connector of a configured system (`systems.<name>` in the YAML): checks that the keys
// given fit its connector type, naming the key when they do not, and builds the connector with its
// secrets and the shared dependencies (logger, metrics, the system's rate budget).
import type { Connector, ConnectorDeps, RateBudget } from '../connectors/index.ts';
import { RequestTrackerConnector, RT_RATE_DEFAULTS } from '../connectors/request-tracker/index.ts';
import { SandboxErpConnector, SANDBOX_ERP_RATE_DEFAULTS } from '../connectors/sandbox-erp/index.ts';
import {
  SandboxHelpdeskConnector,
  SANDBOX_HELPDESK_RATE_DEFAULTS,
} from '../connectors/sandbox-helpdesk/index.ts';
import { TrytonConnector, TRYTON_RATE_DEFAULTS } from '../connectors/tryton/index.ts';
import type { SystemConfig } from './config.ts';
import { JourneyConfigInvalidError } from './errors.ts';

type ConnectorType = SystemConfig['connector'];
type Key = Exclude<keyof SystemConfig, 'connector'>;

/** Keys each connector type reads, and which of them it cannot do without. */
const KEYS: Readonly<
  Record<ConnectorType, { readonly allowed: readonly Key[]; readonly required: readonly Key[] }>
> = {
  'sandbox-erp': {
    allowed: ['baseUrl', 'apiKey', 'webhookSecret', 'pollIntervalMs', 'ratePerSecond', 'timeoutMs'],
    required: ['apiKey'],
  },
  'sandbox-helpdesk': {
    allowed: ['baseUrl', 'apiKey', 'webhookSecret', 'pollIntervalMs', 'ratePerSecond', 'timeoutMs'],
    required: ['apiKey'],
  },
  tryton: {
    allowed: [
      'baseUrl',
      'user',
      'password',
      'pollIntervalMs',
      'ratePerSecond',
      'maxInFlight',
      'timeoutMs',
      'overlapMs',
    ],
    required: ['user', 'password'],
  },
  'request-tracker': {
    allowed: [
      'baseUrl',
      'apiKey',
      'timezone',
      'queues',
      'customFields',
      'pollIntervalMs',
      'ratePerSecond',
      'maxInFlight',
      'timeoutMs',
      'overlapMs',
    ],
    required: ['apiKey'],
  },
};

/** Each connector type's own rate defaults (requests per second, in flight), from the connectors. */
const RATE_DEFAULTS: Readonly<
  Record<ConnectorType, { readonly ratePerSecond: number; readonly maxInFlight: number }>
> = {
  'sandbox-erp': SANDBOX_ERP_RATE_DEFAULTS,
  'sandbox-helpdesk': SANDBOX_HELPDESK_RATE_DEFAULTS,
  tryton: TRYTON_RATE_DEFAULTS,
  'request-tracker': RT_RATE_DEFAULTS,
};

/**
 * The rate budget settings of a configured system: its rate (bursting up to one second's worth) and
 * its in-flight cap, with each connector's defaults.
 */
export function systemBudgetSettings(system: SystemConfig): {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly maxInFlight: number;
} {
  const ratePerSecond = system.ratePerSecond ?? RATE_DEFAULTS[system.connector].ratePerSecond;
  return {
    ratePerSecond,
    burst: Math.max(1, Math.ceil(ratePerSecond)),
    maxInFlight: system.maxInFlight ?? RATE_DEFAULTS[system.connector].maxInFlight,
  };
}

/** Problems with `systems.<name>`'s keys for its connector type, each naming the key (empty: fine). */
export function systemConfigIssues(name: string, system: SystemConfig): string[] {
  const keys = KEYS[system.connector];
  const issues: string[] = [];
  for (const key of Object.keys(system) as (keyof SystemConfig)[]) {
    if (key === 'connector' || system[key] === undefined) continue;
    if (!keys.allowed.includes(key)) {
      issues.push(`systems.${name}.${key}: not used by connector ${system.connector}`);
    }
  }
  for (const key of keys.required) {
    if (system[key] === undefined) {
      issues.push(`systems.${name}.${key}: required by connector ${system.connector}`);
    }
  }
  return issues;
}

export interface SystemConnectorDeps extends Omit<ConnectorDeps, 'rateBudget'> {
  /** The system's shared rate budget, when the caller has one (default: the connector's own). */
  readonly rateBudget?: RateBudget;
}

/** Builds the connector of `systems.<name>`; throws JOURNEY_CONFIG_INVALID naming a bad key. */
export function openSystemConnector(
  name: string,
  system: SystemConfig,
  deps: SystemConnectorDeps,
  journey = 'orderVisibility',
): Connector {
  const issues = systemConfigIssues(name, system);
  if (issues.length > 0) throw new JourneyConfigInvalidError(journey, issues.join('; '));
  const opt = <K extends Key>(key: K) =>
    (system[key] === undefined ? {} : { [key]: system[key] }) as Partial<Pick<SystemConfig, K>>;
  const connectorDeps: ConnectorDeps = {
    logger: deps.logger,
    ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
    ...(deps.rateBudget === undefined ? {} : { rateBudget: deps.rateBudget }),
  };
  switch (system.connector) {
    case 'sandbox-erp':
    case 'sandbox-helpdesk': {
      const config = { url: system.baseUrl, ...opt('timeoutMs'), ...opt('ratePerSecond') };
      const secrets = {
        apiKey: system.apiKey!,
        ...(system.webhookSecret === undefined ? {} : { webhookSecret: system.webhookSecret }),
      };
      return system.connector === 'sandbox-erp'
        ? new SandboxErpConnector(config, secrets, connectorDeps)
        : new SandboxHelpdeskConnector(config, secrets, connectorDeps);
    }
    case 'tryton':
      return new TrytonConnector(
        {
          url: system.baseUrl,
          user: system.user!,
          ...opt('overlapMs'),
          ...opt('timeoutMs'),
          ...opt('ratePerSecond'),
          ...opt('maxInFlight'),
        },
        { password: system.password! },
        connectorDeps,
      );
    case 'request-tracker':
      return new RequestTrackerConnector(
        {
          url: system.baseUrl,
          ...opt('queues'),
          ...opt('timezone'),
          ...opt('customFields'),
          ...opt('overlapMs'),
          ...opt('timeoutMs'),
          ...opt('ratePerSecond'),
          ...opt('maxInFlight'),
        },
        { token: system.apiKey! },
        connectorDeps,
      );
  }
}
