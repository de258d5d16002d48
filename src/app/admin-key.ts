// The bootstrap admin key. When the configuration names no API keys, Crossdock creates one admin
// key at `<dataDir>/admin.key` (mode 0600) on first start and reuses it afterwards; the CLI reads it
// from there to call the admin API of a running server. The key is never printed or logged.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ApiKeySpec } from '../api/index.ts';

export const ADMIN_KEY_FILE = 'admin.key';

export function adminKeyPath(dataDir: string): string {
  return resolve(join(dataDir, ADMIN_KEY_FILE));
}

export function readAdminKey(dataDir: string): string | undefined {
  const path = adminKeyPath(dataDir);
  if (!existsSync(path)) return undefined;
  const key = readFileSync(path, 'utf8').trim();
  return key.length > 0 ? key : undefined;
}

/** Returns the bootstrap key, creating it (0600) if it does not exist yet. */
export function ensureAdminKey(dataDir: string): { key: ApiKeySpec; path: string; created: boolean } {
  const path = adminKeyPath(dataDir);
  let value = readAdminKey(dataDir);
  let created = false;
  if (value === undefined) {
    mkdirSync(resolve(dataDir), { recursive: true });
    value = `cdk_${randomBytes(24).toString('base64url')}`;
    writeFileSync(path, `${value}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    created = true;
  }
  return { key: { id: 'bootstrap-admin', key: value, scopes: ['admin'], tenants: '*' }, path, created };
}
