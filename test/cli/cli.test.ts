import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startCli } from '../support/cli.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'cd-cli-'));
}

function configFile(text: string): string {
  const path = join(tempDir(), 'crossdock.yaml');
  writeFileSync(path, text);
  return path;
}

describe('crossdock command', () => {
  it('prints its version and help', async () => {
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('start');
    expect(help.stdout).toContain('config');
  });

  it('exits 2 on an unknown option or a bad port', async () => {
    expect((await runCli(['start', '--bogus'])).code).toBe(2);
    const port = await runCli(['start', '--port', 'eighty']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('--port');
  });

  it('validates a good file with exit 0', async () => {
    const res = await runCli([
      'config',
      'validate',
      configFile('server:\n  port: 7411\ntenants:\n  - id: acme\n'),
    ]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('valid');
    expect(res.stdout).toContain('tenants acme');
  });

  it.each([
    [
      'a wrong type',
      'server:\n  shutdownTimeoutMs: soon\n',
      'server.shutdownTimeoutMs: got "soon", expected an integer of at least 0',
    ],
    ['an unknown key', 'stor:\n  dialect: sqlite\n', 'stor: got'],
    [
      'a missing secret file',
      'metrics:\n  token: ${file:/no/such/file}\n',
      'metrics.token: got ${file:/no/such/file}',
    ],
  ])('exits 2 on %s, naming the key', async (_what, yaml, message) => {
    const path = configFile(yaml);
    for (const args of [
      ['config', 'validate', path],
      ['start', '--config', path],
    ]) {
      const res = await runCli(args, { env: { CROSSDOCK_PORT: '0' } });
      expect(res.code).toBe(2);
      expect(res.stderr).toContain(message);
    }
  });
});

describe('crossdock start on a busy port', () => {
  it('says which address is taken and how to pick another', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const res = await runCli(['start', '--port', String(port)], {
        env: { CROSSDOCK_DATA_DIR: join(tempDir(), 'data') },
      });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`127.0.0.1:${port} is already in use`);
      expect(res.stderr).toContain('--port N or CROSSDOCK_PORT');
    } finally {
      blocker.close();
    }
  });
});

describe('crossdock migrate', () => {
  it('applies migrations to the configured SQLite file and is idempotent', async () => {
    const dir = tempDir();
    const env = { CROSSDOCK_DATA_DIR: join(dir, 'data') };
    const first = await runCli(['migrate'], { env });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/sqlite: \d+ applied, 0 already applied/);
    expect(existsSync(join(dir, 'data', 'crossdock.db'))).toBe(true);
    const second = await runCli(['migrate'], { env });
    expect(second.stdout).toMatch(/sqlite: 0 applied, \d+ already applied/);
  });
});

describe('crossdock start', () => {
  it('serves, keeps every secret out of its logs, and shuts down gracefully on SIGTERM', async () => {
    const dir = tempDir();
    const apiKey = 'desk-key-SECRET-0a1b2c3d4e5f6a7b8c9d';
    const metricsToken = 'metrics-SECRET-from-file-99887766';
    writeFileSync(join(dir, 'metrics.token'), `${metricsToken}\n`);
    const path = join(dir, 'crossdock.yaml');
    writeFileSync(
      path,
      [
        `dataDir: ${join(dir, 'data')}`,
        'log:',
        '  level: debug',
        'metrics:',
        '  token: ${file:metrics.token}',
        'auth:',
        '  apiKeys:',
        '    - id: desk',
        '      key: ${env:DESK_KEY}',
        '      scopes: [admin]',
      ].join('\n'),
    );
    const proc = startCli(['start', '--config', path, '--port', '0'], { env: { DESK_KEY: apiKey } });
    try {
      const started = await proc.waitFor(/crossdock started/);
      const url = (JSON.parse(started) as { url: string }).url;

      expect((await fetch(`${url}/health`)).status).toBe(200);
      const ready = await fetch(`${url}/ready`);
      expect(await ready.json()).toEqual({ status: 'ready', checks: [{ name: 'store', ok: true }] });
      expect(existsSync(join(dir, 'data', 'crossdock.db'))).toBe(true);
      expect((await fetch(`${url}/metrics`)).status).toBe(401);
      const metrics = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('crossdock_process_');
      const who = await fetch(`${url}/v1/whoami?key=${apiKey}`, {
        // A careless client puts the key where it gets logged: the scrubber must still catch it.
        headers: { authorization: `Bearer ${apiKey}`, 'x-correlation-id': apiKey },
      });
      expect(who.status).toBe(200);
      expect(((await who.json()) as { keyId: string }).keyId).toBe('desk');
      expect(
        (await fetch(`${url}/v1/whoami`, { headers: { authorization: `Bearer ${metricsToken}` } })).status,
      ).toBe(401);
      await proc.waitFor(/"status":401/);

      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      const out = proc.output();
      expect(out).toContain('shutting down');
      expect(out).toContain('"msg":"stopped"');
      expect(out).toContain('[redacted]');
      expect(out).not.toContain(apiKey);
      expect(out).not.toContain(metricsToken);
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  it('refuses a second process on the same embedded store, naming the first, and takes over a dead one’s lock', async () => {
    const dir = tempDir();
    const env = { CROSSDOCK_DATA_DIR: join(dir, 'data') };
    const { mkdirSync, writeFileSync, existsSync } = await import('node:fs');
    mkdirSync(join(dir, 'data'), { recursive: true });
    // A lock left by a process that is gone (no such pid) is taken over.
    writeFileSync(join(dir, 'data', 'crossdock.db.lock'), '999999999\n');
    const first = startCli(['start', '--port', '0'], { env });
    try {
      await first.waitFor(/crossdock started/);
      const second = await runCli(['start', '--port', '0'], { env });
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`in use by process ${first.child.pid}`);
      expect(second.stderr).toContain('STORE_LOCKED');
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      expect(existsSync(join(dir, 'data', 'crossdock.db.lock'))).toBe(false);
    } finally {
      first.child.kill('SIGKILL');
    }
  });

  it('creates a bootstrap admin key file when no keys are configured, without logging it', async () => {
    const dir = tempDir();
    const proc = startCli(['start', '--port', '0'], { env: { CROSSDOCK_DATA_DIR: join(dir, 'data') } });
    try {
      const started = await proc.waitFor(/crossdock started/);
      const url = (JSON.parse(started) as { url: string }).url;
      const { readFileSync, statSync } = await import('node:fs');
      const keyPath = join(dir, 'data', 'admin.key');
      const key = readFileSync(keyPath, 'utf8').trim();
      expect(statSync(keyPath).mode & 0o777).toBe(0o600);
      const who = await fetch(`${url}/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });
      expect(((await who.json()) as { scopes: string[] }).scopes).toEqual(['admin']);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(proc.output()).not.toContain(key);
    } finally {
      proc.child.kill('SIGKILL');
    }
  });
});

describe('admin subcommands', () => {
  it('act on the store when no server runs, and through the admin API when one does', async () => {
    const dir = tempDir();
    const env = { CROSSDOCK_DATA_DIR: join(dir, 'data'), CROSSDOCK_PORT: '1' };
    const local = await runCli(['runs', 'list'], { env });
    expect(local.code).toBe(0);
    expect(local.stdout).toContain('no runs match');

    const proc = startCli(['start', '--port', '0'], { env: { CROSSDOCK_DATA_DIR: join(dir, 'data') } });
    try {
      const url = (JSON.parse(await proc.waitFor(/crossdock started/)) as { url: string }).url;
      const remote = await runCli(['runs', 'list', '--server', url], { env });
      expect(remote.code).toBe(0);
      expect(remote.stdout).toContain('no runs match');
      await proc.waitFor(/"url":"\/v1\/admin\/runs".*"keyId":"bootstrap-admin"/);
      const dlq = await runCli(['events', 'dlq', 'list', '--server', url], { env });
      expect(dlq.code).toBe(0);
      await proc.waitFor(/"url":"\/v1\/admin\/events\/dlq"/);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    } finally {
      proc.child.kill('SIGKILL');
    }
  });
});

describe('crossdock start --demo', () => {
  it('answers /health, runs the sandbox with traffic, and puts business events on the log', async () => {
    const dir = tempDir();
    const began = Date.now();
    const proc = startCli(['start', '--demo', '--port', '0'], {
      env: { CROSSDOCK_DATA_DIR: join(dir, 'data') },
    });
    try {
      const url = (JSON.parse(await proc.waitFor(/crossdock started/, 30_000)) as { url: string }).url;
      expect((await fetch(`${url}/health`)).status).toBe(200);
      console.log(`start --demo answered /health ${Date.now() - began} ms after launch`);
      await proc.waitFor(/demo: sandbox systems and traffic started/);
      await proc.waitFor(/crossdock demo · orders [1-9]/, 30_000);
      const key = readFileSync(join(dir, 'data', 'admin.key'), 'utf8').trim();
      let types: string[] = [];
      const created = 'dev.crossdock.order.created'; // CloudEvents type of order:created
      for (let i = 0; i < 60 && !types.includes(created); i++) {
        const res = await fetch(`${url}/v1/admin/events/tail?limit=500`, {
          headers: { authorization: `Bearer ${key}` },
        });
        types = ((await res.json()) as { events: { type: string }[] }).events.map((e) => e.type);
        if (!types.includes(created)) await new Promise((r) => setTimeout(r, 500));
      }
      expect(types).toContain(created);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    } finally {
      proc.child.kill('SIGKILL');
    }
  }, 90_000);
});
