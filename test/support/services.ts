// Access to the real services tests run against (PostgreSQL, NATS). On a laptop without a service
// the suites that need it are skipped with a message; in CI (CROSSDOCK_REQUIRE_SERVICES=1) a missing
// service fails the run loudly instead.
import net from 'node:net';
import pg from 'pg';

export const REQUIRE_SERVICES = process.env.CROSSDOCK_REQUIRE_SERVICES === '1';
export const PG_ADMIN_URL =
  process.env.CROSSDOCK_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const NATS_URL = process.env.CROSSDOCK_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function available(name: string, url: string): Promise<boolean> {
  const u = new URL(url);
  const ok = await reachable(u.hostname, Number(u.port));
  if (ok) return true;
  if (REQUIRE_SERVICES) {
    throw new Error(`${name} is required (CROSSDOCK_REQUIRE_SERVICES=1) but ${u.host} is unreachable`);
  }
  console.warn(
    `skipping ${name} tests: ${u.host} is unreachable (set CROSSDOCK_REQUIRE_SERVICES=1 to fail instead)`,
  );
  return false;
}

/** True when PostgreSQL answers; throws in CI when it does not. Use with `describe.skipIf(!pgAvailable)`. */
export const pgAvailable = await available('PostgreSQL', PG_ADMIN_URL);
export const natsAvailable = await available('NATS', NATS_URL);

/**
 * Creates a fresh, empty database for one test file and returns its URL; `drop()` removes it.
 * Each file gets its own database so suites can run in parallel workers.
 */
export async function freshPgDatabase(
  prefix = 'cd_test',
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
