// How state-changing subcommands reach Crossdock: through the running server's authenticated admin
// API when one answers (so its in-memory schedulers and consumers see the change at once), and on the
// store directly when no server runs. The server is found at `--server URL`, `CROSSDOCK_URL`, or the
// configured host and port; the key comes from `CROSSDOCK_API_KEY` or the bootstrap `admin.key`.
import type { Command } from 'commander';
import { readAdminKey } from '../app/admin-key.ts';
import { migrateStore, openConfiguredStore } from '../app/store-setup.ts';
import { loadConfig, type LoadedConfig } from '../config/index.ts';
import {
  EventsAdmin,
  EventLog,
  HttpEventsClient,
  localEventsApi,
  type EventsAdminApi,
} from '../events/index.ts';
import type { Store } from '../store/index.ts';
import { createLogger } from '../telemetry/index.ts';
import { HttpRunsClient, WorkflowAdminService, type RunsAdmin } from '../workflow/index.ts';
import { UnauthenticatedError } from '../errors/index.ts';

/** Options every admin command group (`runs`, `events`) accepts. */
export function addTargetOptions(group: Command): Command {
  return group
    .option('-c, --config <file>', 'configuration file of the Crossdock to act on')
    .option(
      '--server <url>',
      'URL of a running Crossdock (default: from the configuration, e.g. http://127.0.0.1:7400)',
    );
}

interface TargetOptions {
  config?: string;
  server?: string;
}

export interface ServerTarget {
  readonly baseUrl: string;
  readonly apiKey: string;
}

function serverUrl(loaded: LoadedConfig, explicit: string | undefined): string {
  if (explicit !== undefined) return explicit.replace(/\/$/, '');
  if (process.env.CROSSDOCK_URL) return process.env.CROSSDOCK_URL.replace(/\/$/, '');
  const { host, port } = loaded.config.server;
  const reachableHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${reachableHost.includes(':') ? `[${reachableHost}]` : reachableHost}:${port}`;
}

async function answers(baseUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(1_000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** The running server to act through, or undefined when none answers at the expected address. */
export async function findServer(
  loaded: LoadedConfig,
  options: TargetOptions,
): Promise<ServerTarget | undefined> {
  const baseUrl = serverUrl(loaded, options.server);
  if (!(await answers(baseUrl))) {
    if (options.server !== undefined) {
      throw new UnauthenticatedError(`no Crossdock answers at ${baseUrl}`);
    }
    return undefined;
  }
  const apiKey = process.env.CROSSDOCK_API_KEY ?? readAdminKey(loaded.config.dataDir);
  if (apiKey === undefined) {
    throw new UnauthenticatedError(
      `Crossdock runs at ${baseUrl} but no API key is known: set CROSSDOCK_API_KEY to a key with the needed scope`,
    );
  }
  return { baseUrl, apiKey };
}

async function withLocalStore<T>(loaded: LoadedConfig, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openConfiguredStore(loaded.config, {
    logger: createLogger({ level: 'warn', secrets: loaded.secrets }),
  });
  try {
    await migrateStore(store);
    return await fn(store);
  } finally {
    await store.close();
  }
}

function load(group: Command): { loaded: LoadedConfig; options: TargetOptions } {
  const options = group.opts<TargetOptions>();
  return { loaded: loadConfig(options.config !== undefined ? { file: options.config } : {}), options };
}

/** `withAdmin` for `crossdock runs ...`: the server's admin API, or the store when no server runs. */
export function runsAdminLender(group: () => Command) {
  return async <T>(fn: (admin: RunsAdmin) => Promise<T>): Promise<T> => {
    const { loaded, options } = load(group());
    const server = await findServer(loaded, options);
    if (server !== undefined)
      return fn(new HttpRunsClient({ baseUrl: server.baseUrl, apiKey: server.apiKey }));
    return withLocalStore(loaded, (store) => fn(new WorkflowAdminService({ store })));
  };
}

/** `withApi` for `crossdock events ...`: the server's admin API, or the store when no server runs. */
export function eventsApiLender(group: () => Command) {
  return async <T>(fn: (api: EventsAdminApi) => Promise<T>): Promise<T> => {
    const { loaded, options } = load(group());
    const server = await findServer(loaded, options);
    if (server !== undefined)
      return fn(new HttpEventsClient({ baseUrl: server.baseUrl, apiKey: server.apiKey }));
    return withLocalStore(loaded, (store) => fn(localEventsApi(new EventsAdmin(new EventLog({ store })))));
  };
}
