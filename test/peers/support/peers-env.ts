// Where the real peers run: the KEY=VALUE files the peers' up scripts write ($TRYTON_HOME/env,
// $RT_HOME/env), overridden by the process environment. Without a reachable peer the suites are
// skipped with a message; `npm run test:peers` sets CROSSDOCK_REQUIRE_PEERS=1 so a missing peer fails.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const REQUIRE_PEERS = process.env.CROSSDOCK_REQUIRE_PEERS === '1';
/** Set by vitest.peers.config.ts: the default `npm test` run leaves the peer suites out. */
export const PEER_RUN = process.env.CROSSDOCK_PEER_TESTS === '1';

/** The KEY=VALUE lines of a peer's env file (empty when it does not exist). */
export function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(file)) return out;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function peer(name: string, home: string, urlKey: string): Promise<Record<string, string> | undefined> {
  if (!PEER_RUN) return undefined;
  const env = { ...readEnvFile(path.join(home, 'env')), ...pick(urlKey) };
  for (const [k, v] of Object.entries(process.env))
    if (k.startsWith(name.toUpperCase()) && v !== undefined) env[k] = v;
  const url = env[urlKey];
  if (url !== undefined && (await reachable(url))) return env;
  const why = `${name} is not reachable (${url ?? `no ${urlKey}`}); start it with ../shared/peers/${name}-up.sh`;
  if (REQUIRE_PEERS) throw new Error(`${why} (CROSSDOCK_REQUIRE_PEERS=1)`);
  console.warn(`skipping ${name} tests: ${why}`);
  return undefined;
}

function pick(key: string): Record<string, string> {
  const v = process.env[key];
  return v === undefined ? {} : { [key]: v };
}

export const trytonEnv = await peer(
  'tryton',
  process.env.TRYTON_HOME ?? '/var/lib/peers/tryton',
  'TRYTON_RPC_URL',
);
export const rtEnv = await peer('rt', process.env.RT_HOME ?? '/var/lib/peers/rt', 'RT_REST2_URL');
