import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, SECRET_PLACEHOLDER } from '../../src/config/index.ts';
import { ConfigInvalidError } from '../../src/errors/index.ts';

function file(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cd-config-'));
  const path = join(dir, 'crossdock.yaml');
  writeFileSync(path, text);
  return path;
}

function issuesOf(fn: () => unknown): { key: string; value: string; expected: string }[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigInvalidError);
    return [...(error as ConfigInvalidError).issues];
  }
  throw new Error('expected the configuration to be rejected');
}

describe('loadConfig', () => {
  it('gives defaults and one default tenant when there is no file', () => {
    const { config } = loadConfig({ env: {} });
    expect(config.server.port).toBe(7400);
    expect(config.store.dialect).toBe('sqlite');
    expect(config.tenants).toEqual([{ id: 'default' }]);
    expect(config.auth.apiKeys).toEqual([]);
  });

  it('applies environment overrides over the file, and CROSSDOCK_PORT as an alias', () => {
    const path = file('server:\n  port: 8000\nlog:\n  level: debug\n');
    expect(loadConfig({ file: path, env: {} }).config.server.port).toBe(8000);
    expect(loadConfig({ file: path, env: { CROSSDOCK_SERVER_PORT: '8100' } }).config.server.port).toBe(8100);
    expect(loadConfig({ file: path, env: { CROSSDOCK_PORT: '8200' } }).config.server.port).toBe(8200);
    expect(loadConfig({ file: path, env: { CROSSDOCK_LOG_LEVEL: 'warn' } }).config.log.level).toBe('warn');
  });

  it('lets command-line overrides win over the environment', () => {
    const { config } = loadConfig({ env: { CROSSDOCK_PORT: '8200' }, overrides: { 'server.port': 9000 } });
    expect(config.server.port).toBe(9000);
  });

  it('resolves ${env:...} and ${file:...} references and reports their values as secrets', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cd-secret-'));
    writeFileSync(join(dir, 'key.txt'), 'file-secret-value-0123456789abcdef\n');
    const path = join(dir, 'c.yaml');
    writeFileSync(
      path,
      [
        'store:',
        '  dialect: postgres',
        '  postgresUrl: postgres://app:${env:PGPASS}@127.0.0.1/db',
        'auth:',
        '  apiKeys:',
        '    - id: desk',
        '      key: ${file:key.txt}',
        '      scopes: [entities:read]',
        'tenants:',
        '  - id: acme',
        '  - id: globex',
      ].join('\n'),
    );
    const { config, secrets } = loadConfig({ file: path, env: { PGPASS: 'pg-pass-42x' } });
    expect(config.store.postgresUrl).toBe('postgres://app:pg-pass-42x@127.0.0.1/db');
    expect(config.auth.apiKeys[0]?.key).toBe('file-secret-value-0123456789abcdef');
    expect(config.auth.apiKeys[0]?.tenants).toBe('*');
    expect(config.tenants.map((t) => t.id)).toEqual(['acme', 'globex']);
    expect(secrets.has('pg-pass-42x')).toBe(true);
    expect(secrets.has('file-secret-value-0123456789abcdef')).toBe(true);
  });

  it('rejects a wrong type naming the key, the value and the expected form', () => {
    const issues = issuesOf(() => loadConfig({ file: file('server:\n  port: eighty\n'), env: {} }));
    expect(issues).toEqual([
      { key: 'server.port', value: '"eighty"', expected: 'an integer from 0 to 65535' },
    ]);
  });

  it('rejects a bad environment override naming the key', () => {
    const issues = issuesOf(() => loadConfig({ env: { CROSSDOCK_PORT: '99999' } }));
    expect(issues[0]).toMatchObject({ key: 'server.port', value: '99999' });
  });

  it('rejects an unknown key and lists the known ones', () => {
    const issues = issuesOf(() => loadConfig({ file: file('server:\n  prot: 80\n'), env: {} }));
    expect(issues[0]?.key).toBe('server.prot');
    expect(issues[0]?.expected).toContain('known keys here: host, port');
  });

  it('rejects a missing secret file naming the key and the reference', () => {
    const issues = issuesOf(() =>
      loadConfig({ file: file('metrics:\n  token: ${file:/nonexistent/token}\n'), env: {} }),
    );
    expect(issues).toEqual([
      { key: 'metrics.token', value: '${file:/nonexistent/token}', expected: 'a readable file (ENOENT)' },
    ]);
  });

  it('rejects an unset environment reference', () => {
    const issues = issuesOf(() =>
      loadConfig({ file: file('metrics:\n  token: ${env:NOPE_TOKEN}\n'), env: {} }),
    );
    expect(issues[0]).toMatchObject({
      key: 'metrics.token',
      expected: 'environment variable NOPE_TOKEN to be set',
    });
  });

  it('never shows a secret value in an error, even when it is invalid', () => {
    const issues = issuesOf(() =>
      loadConfig({ file: file('metrics:\n  token: ${env:SHORT}\n'), env: { SHORT: 'tiny-secret' } }),
    );
    expect(issues[0]).toMatchObject({ key: 'metrics.token', value: SECRET_PLACEHOLDER });
    expect(JSON.stringify(issues)).not.toContain('tiny-secret');
  });

  it('requires a PostgreSQL URL when the dialect is postgres', () => {
    const issues = issuesOf(() => loadConfig({ env: { CROSSDOCK_STORE_DIALECT: 'postgres' } }));
    expect(issues[0]?.key).toBe('store.postgresUrl');
  });

  it('rejects duplicate tenant ids and malformed ones', () => {
    expect(
      issuesOf(() => loadConfig({ file: file('tenants:\n  - id: a\n  - id: a\n'), env: {} }))[0]?.key,
    ).toBe('tenants');
    expect(issuesOf(() => loadConfig({ file: file('tenants:\n  - id: Bad Id\n'), env: {} }))[0]?.key).toBe(
      'tenants[0].id',
    );
  });

  it('rejects a file that is not YAML or not a mapping', () => {
    expect(issuesOf(() => loadConfig({ file: file('server: [unclosed\n'), env: {} }))[0]?.key).toBe('(file)');
    expect(issuesOf(() => loadConfig({ file: file('- a\n- b\n'), env: {} }))[0]?.key).toBe('(root)');
  });
});
