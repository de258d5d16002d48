// Starts the four sandbox systems together (ERP 7401, helpdesk 7402, carrier 7403, storefront
// 7404 by default; port 0 for tests), sharing one business clock, and hands back their URLs, API
// keys, in-process handles, the oracle, and `stop()`. The demo, load and chaos tests use this;
// production code paths never do.
import { SandboxClock } from './clock.ts';
import { SandboxCarrier } from './carrier/carrier-server.ts';
import { SandboxErp } from './erp/erp-server.ts';
import type { FaultConfig } from './faults.ts';
import { SandboxHelpdesk, type HelpdeskRateLimit } from './helpdesk/helpdesk-server.ts';
import { createOracle, type SandboxOracle } from './oracle.ts';
import { SandboxStorefront } from './storefront/storefront-server.ts';

export const SANDBOX_SYSTEMS = ['erp', 'helpdesk', 'carrier', 'storefront'] as const;
export type SandboxSystem = (typeof SANDBOX_SYSTEMS)[number];

export const DEFAULT_SANDBOX_PORTS: Readonly<Record<SandboxSystem, number>> = {
  erp: 7401,
  helpdesk: 7402,
  carrier: 7403,
  storefront: 7404,
};

export interface StartSandboxOptions {
  /** Ports per system (defaults 7401-7404); `0` for every system picks free ports. */
  readonly ports?: Partial<Record<SandboxSystem, number>> | 0;
  /** Interface to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** Faults per system; `all` applies to every system, a system's own entry is merged over it. */
  readonly faults?: Partial<Record<SandboxSystem | 'all', FaultConfig>>;
  /** Seed of the fault injectors (each system derives its own from it; default 1). */
  readonly seed?: number;
  /** API keys per system (defaults `sandbox-<system>-key`). */
  readonly apiKeys?: Partial<Record<SandboxSystem, string>>;
  /** The helpdesk's rate limit (default 50/s, burst 100), or false to turn it off. */
  readonly helpdeskRateLimit?: HelpdeskRateLimit | false;
  /** Delays before webhook retries, in ms, for every system (default [500, 2000, 10000, 30000, 60000]). */
  readonly webhookRetryDelaysMs?: readonly number[];
  /** Shared business clock (default: wall clock at one-second resolution). */
  readonly clock?: SandboxClock;
}

export interface SandboxAuthHeader {
  readonly header: string;
  readonly value: string;
}

export interface Sandbox {
  readonly urls: Readonly<Record<SandboxSystem, string>>;
  readonly apiKeys: Readonly<Record<SandboxSystem, string>>;
  /** The header each system authenticates with, ready to send. */
  readonly auth: Readonly<Record<SandboxSystem, SandboxAuthHeader>>;
  readonly erp: SandboxErp;
  readonly helpdesk: SandboxHelpdesk;
  readonly carrier: SandboxCarrier;
  readonly storefront: SandboxStorefront;
  readonly clock: SandboxClock;
  readonly oracle: SandboxOracle;
  /** Stops all four systems (pending webhooks are dropped). */
  stop(): Promise<void>;
}

export async function startSandbox(options: StartSandboxOptions = {}): Promise<Sandbox> {
  const clock = options.clock ?? new SandboxClock();
  const seed = options.seed ?? 1;
  const port = (system: SandboxSystem): number =>
    options.ports === 0 ? 0 : (options.ports?.[system] ?? DEFAULT_SANDBOX_PORTS[system]);
  const faults = (system: SandboxSystem): FaultConfig => ({
    ...options.faults?.all,
    ...options.faults?.[system],
  });
  const key = (system: SandboxSystem): string => options.apiKeys?.[system] ?? `sandbox-${system}-key`;
  const retry =
    options.webhookRetryDelaysMs === undefined ? {} : { webhookRetryDelaysMs: options.webhookRetryDelaysMs };

  const erp = new SandboxErp({
    apiKey: key('erp'),
    clock,
    faults: faults('erp'),
    seed: seed * 4 + 1,
    ...retry,
  });
  const helpdesk = new SandboxHelpdesk({
    apiKey: key('helpdesk'),
    clock,
    faults: faults('helpdesk'),
    seed: seed * 4 + 2,
    ...(options.helpdeskRateLimit === undefined ? {} : { rateLimit: options.helpdeskRateLimit }),
    ...retry,
  });
  const carrier = new SandboxCarrier({
    apiKey: key('carrier'),
    clock,
    faults: faults('carrier'),
    seed: seed * 4 + 3,
    ...retry,
  });
  const storefront = new SandboxStorefront({
    apiKey: key('storefront'),
    clock,
    faults: faults('storefront'),
    seed: seed * 4 + 4,
    ...retry,
  });
  const systems = { erp, helpdesk, carrier, storefront };
  const host = options.host ?? '127.0.0.1';
  const started: { stop(): Promise<void> }[] = [];
  try {
    for (const system of SANDBOX_SYSTEMS) {
      await systems[system].listen(port(system), host);
      started.push(systems[system]);
    }
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw err;
  }
  const apiKeys = {
    erp: erp.apiKey,
    helpdesk: helpdesk.apiKey,
    carrier: carrier.apiKey,
    storefront: storefront.apiKey,
  };
  return {
    urls: { erp: erp.url, helpdesk: helpdesk.url, carrier: carrier.url, storefront: storefront.url },
    apiKeys,
    auth: sandboxAuthHeaders(apiKeys),
    erp,
    helpdesk,
    carrier,
    storefront,
    clock,
    oracle: createOracle(erp, helpdesk),
    stop: async () => {
      await Promise.allSettled(SANDBOX_SYSTEMS.map((s) => systems[s].stop()));
    },
  };
}

/** The auth header of each system for the given keys. */
export function sandboxAuthHeaders(
  apiKeys: Readonly<Record<SandboxSystem, string>>,
): Record<SandboxSystem, SandboxAuthHeader> {
  return {
    erp: { header: 'x-api-key', value: apiKeys.erp },
    helpdesk: { header: 'authorization', value: `Bearer ${apiKeys.helpdesk}` },
    carrier: { header: 'x-carrier-key', value: apiKeys.carrier },
    storefront: { header: 'x-shop-token', value: apiKeys.storefront },
  };
}
