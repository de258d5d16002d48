// API key authentication and scope checks. Keys are compared by their SHA-256 digest, so the
// lookup takes the same time whatever the key, and the keys themselves are never kept in a map.
import { createHash } from 'node:crypto';
import type { Scope } from '../config/index.ts';

export interface Principal {
  /** Id of the API key, for logs and audit. */
  readonly keyId: string;
  /** Tenants the caller may act for, or '*' for all. */
  readonly tenants: readonly string[] | '*';
  readonly scopes: readonly Scope[];
}

export interface ApiKeySpec {
  readonly id: string;
  readonly key: string;
  readonly scopes: readonly Scope[];
  readonly tenants: readonly string[] | '*';
}

function digest(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export class ApiKeyAuthenticator {
  readonly #byDigest = new Map<string, Principal>();

  constructor(keys: readonly ApiKeySpec[]) {
    for (const k of keys)
      this.#byDigest.set(digest(k.key), { keyId: k.id, tenants: k.tenants, scopes: k.scopes });
  }

  /** The principal for a presented key, or undefined when the key is unknown. */
  authenticate(presented: string): Principal | undefined {
    return this.#byDigest.get(digest(presented));
  }
}

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.includes('admin') || principal.scopes.includes(scope);
}

export function mayActFor(principal: Principal, tenant: string): boolean {
  return principal.tenants === '*' || principal.tenants.includes(tenant);
}

/** Reads `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const x = headers['x-api-key'];
  return typeof x === 'string' && x.length > 0 ? x : undefined;
}
