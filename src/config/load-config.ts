// Loads the configuration: the optional YAML file, then environment overrides, then secret
// references (`${env:NAME}`, `${file:PATH}`), then defaults, validated against the one schema.
// Every problem is reported with its key, its value (unless secret) and the expected form.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kind, KindGuard, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { ConfigInvalidError, type ConfigIssue } from '../errors/index.ts';
import { ConfigSchema, ENV_ALIAS, isSecretSchema, type CrossdockConfig } from './schema.ts';

export interface LoadedConfig {
  readonly config: CrossdockConfig;
  /** Every secret value in the configuration, for log scrubbing. Never print it. */
  readonly secrets: ReadonlySet<string>;
  /** The file the configuration came from, if any. */
  readonly file: string | undefined;
}

export interface LoadConfigOptions {
  /** YAML file; absent means defaults plus environment. */
  readonly file?: string;
  /** Environment to read overrides and `${env:...}` references from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Values set by command-line flags, applied last, as dotted key -> value. */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

export const SECRET_PLACEHOLDER = '<secret>';
const REFERENCE = /\$\{(env|file):([^}]+)\}/g;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

export function keyOf(path: Path): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out || '(root)';
}

/** `CROSSDOCK_` + the path in upper snake case: server.bodyLimitBytes -> CROSSDOCK_SERVER_BODY_LIMIT_BYTES. */
export function envNameOf(path: readonly string[]): string {
  return `CROSSDOCK_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
}

export interface ScalarKey {
  readonly path: string[];
  readonly schema: TSchema;
  readonly envNames: string[];
}

/** Every scalar key of the schema outside lists; these are the keys the environment can override. */
export function scalarKeys(schema: TSchema = ConfigSchema, path: string[] = []): ScalarKey[] {
  if (KindGuard.IsObject(schema)) {
    return Object.entries(schema.properties).flatMap(([name, child]) => scalarKeys(child, [...path, name]));
  }
  // Lists and maps keyed by name (systems) are set in the file, not by environment variables.
  if (KindGuard.IsArray(schema) || KindGuard.IsRecord(schema)) return [];
  if (KindGuard.IsUnion(schema) && schema.anyOf.some((x) => KindGuard.IsArray(x))) return [];
  const alias = (schema as Record<string, unknown>)[ENV_ALIAS];
  return [{ path, schema, envNames: [envNameOf(path), ...(typeof alias === 'string' ? [alias] : [])] }];
}

function schemaAt(path: Path, schema: TSchema = ConfigSchema): TSchema | undefined {
  let s: TSchema | undefined = schema;
  for (const part of path) {
    if (s === undefined) return undefined;
    if (KindGuard.IsObject(s)) s = s.properties[String(part)];
    else if (KindGuard.IsArray(s)) s = s.items;
    else if (KindGuard.IsRecord(s)) s = Object.values(s.patternProperties)[0];
    else if (KindGuard.IsUnion(s)) s = s.anyOf.find((x) => KindGuard.IsArray(x))?.items;
    else return undefined;
  }
  return s;
}

/** A plain-words description of what a schema accepts, for error messages and docs. */
export function expectedForm(schema: TSchema): string {
  const s = schema as Record<string, unknown> & TSchema;
  switch (s[Kind]) {
    case 'Integer':
    case 'Number': {
      const noun = s[Kind] === 'Integer' ? 'an integer' : 'a number';
      const min = s.minimum as number | undefined;
      const max = s.maximum as number | undefined;
      if (min !== undefined && max !== undefined) return `${noun} from ${min} to ${max}`;
      if (min !== undefined) return `${noun} of at least ${min}`;
      return noun;
    }
    case 'String': {
      if (typeof s.pattern === 'string') return `a string matching ${s.pattern}`;
      if (typeof s.minLength === 'number') return `a string of at least ${s.minLength} characters`;
      return 'a string';
    }
    case 'Boolean':
      return 'true or false';
    case 'Null':
      return 'null';
    case 'Literal':
      return JSON.stringify(s.const);
    case 'Union': {
      const options = (s.anyOf as TSchema[]).map((x) => expectedForm(x));
      return `one of ${options.join(', ')}`;
    }
    case 'Array':
      return `a list, each ${expectedForm(s.items as TSchema)}`;
    case 'Object':
      return `a mapping with keys ${Object.keys(s.properties as object).join(', ')}`;
    case 'Record':
      return 'a mapping from names to settings';
    default:
      return 'a valid value';
  }
}

function render(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return '(missing)';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Replaces `${env:...}`/`${file:...}` in every string; records which keys hold secrets. */
function resolveReferences(
  node: Json,
  path: Path,
  env: LoadConfigOptions['env'] & object,
  baseDir: string,
  issues: ConfigIssue[],
  secretKeys: Set<string>,
  secrets: Set<string>,
): Json {
  if (typeof node === 'string') {
    if (!node.includes('${')) return node;
    let failed = false;
    const out = node.replace(REFERENCE, (whole, kind: string, ref: string) => {
      if (kind === 'env') {
        const v = env[ref];
        if (v === undefined || v === '') {
          issues.push({ key: keyOf(path), value: whole, expected: `environment variable ${ref} to be set` });
          failed = true;
          return '';
        }
        secrets.add(v);
        return v;
      }
      try {
        const v = readFileSync(resolve(baseDir, ref), 'utf8').replace(/\r?\n$/, '');
        secrets.add(v);
        return v;
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
        issues.push({ key: keyOf(path), value: whole, expected: `a readable file (${reason})` });
        failed = true;
        return '';
      }
    });
    secretKeys.add(keyOf(path));
    return failed ? node : out;
  }
  if (Array.isArray(node)) {
    return node.map((v, i) => resolveReferences(v, [...path, i], env, baseDir, issues, secretKeys, secrets));
  }
  if (node !== null && typeof node === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] = resolveReferences(v, [...path, k], env, baseDir, issues, secretKeys, secrets);
    }
    return out;
  }
  return node;
}

function setAt(root: Record<string, Json>, path: readonly string[], value: Json): void {
  let node = root;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, Json>;
  }
  node[path[path.length - 1] as string] = value;
}

function coerce(text: string, schema: TSchema): Json {
  const kind = schema[Kind];
  if ((kind === 'Integer' || kind === 'Number') && /^-?\d+(\.\d+)?$/.test(text.trim())) return Number(text);
  if (kind === 'Boolean' && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

function collectSecretValues(node: unknown, path: Path, secrets: Set<string>): void {
  if (typeof node === 'string') {
    const s = schemaAt(path);
    if (s && isSecretSchema(s)) secrets.add(node);
  } else if (Array.isArray(node)) node.forEach((v, i) => collectSecretValues(v, [...path, i], secrets));
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) collectSecretValues(v, [...path, k], secrets);
  }
}

function pathOf(pointer: string): Path {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const issues: ConfigIssue[] = [];
  let raw: Json = {};
  let baseDir = process.cwd();

  if (options.file !== undefined) {
    const file = resolve(options.file);
    baseDir = resolve(file, '..');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigInvalidError([
        {
          key: '(file)',
          value: JSON.stringify(options.file),
          expected: `a readable YAML file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
        },
      ]);
    }
    try {
      raw = (parseYaml(text) as Json) ?? {};
    } catch (error) {
      throw new ConfigInvalidError([
        {
          key: '(file)',
          value: JSON.stringify(options.file),
          expected: `valid YAML: ${(error as Error).message}`,
        },
      ]);
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new ConfigInvalidError([{ key: '(root)', value: render(raw), expected: 'a YAML mapping' }]);
    }
  }
  const root = raw as Record<string, Json>;

  for (const key of scalarKeys()) {
    for (const name of key.envNames) {
      const value = env[name];
      if (value !== undefined && value !== '') setAt(root, key.path, coerce(value, key.schema));
    }
  }
  for (const [dotted, value] of Object.entries(options.overrides ?? {})) {
    if (value !== undefined) setAt(root, dotted.split('.'), value as Json);
  }

  const secretKeys = new Set<string>();
  const secrets = new Set<string>();
  const resolved = resolveReferences(root, [], env, baseDir, issues, secretKeys, secrets);
  if (issues.length > 0) throw new ConfigInvalidError(issues);

  const withDefaults = Value.Default(ConfigSchema, structuredClone(resolved)) as Json;
  const seen = new Set<string>();
  for (const error of Value.Errors(ConfigSchema, withDefaults)) {
    const path = pathOf(error.path);
    const key = keyOf(path);
    if (seen.has(key)) continue;
    seen.add(key);
    const schema = schemaAt(path);
    const secret = secretKeys.has(key) || (schema !== undefined && isSecretSchema(schema));
    const value = secret ? SECRET_PLACEHOLDER : render(error.value);
    if (schema === undefined) {
      const parent = schemaAt(path.slice(0, -1));
      const known = parent && KindGuard.IsObject(parent) ? Object.keys(parent.properties) : [];
      issues.push({ key, value, expected: `no such key (known keys here: ${known.join(', ')})` });
    } else {
      issues.push({ key, value, expected: expectedForm(schema) });
    }
  }
  if (issues.length > 0) throw new ConfigInvalidError(issues);

  const config = withDefaults as unknown as CrossdockConfig;
  if (config.store.dialect === 'postgres' && !config.store.postgresUrl) {
    throw new ConfigInvalidError([
      {
        key: 'store.postgresUrl',
        value: '(missing)',
        expected: 'a PostgreSQL URL when store.dialect is postgres',
      },
    ]);
  }
  if (config.events.nats !== undefined && config.store.dialect !== 'postgres') {
    // Cluster mode shares partitions and the relay's lease through the store: one SQLite file
    // cannot be shared by several processes.
    throw new ConfigInvalidError([
      {
        key: 'events.nats.url',
        // A URL may carry credentials (`nats://user:pass@host`): never print them.
        value: render(config.events.nats.url.replace(/\/\/[^@/]*@/g, `//${SECRET_PLACEHOLDER}@`)),
        expected:
          'store.dialect postgres with it: NATS means cluster mode, and SQLite serves one process only',
      },
    ]);
  }
  const ids = config.tenants.map((t) => t.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup !== undefined) {
    throw new ConfigInvalidError([
      { key: 'tenants', value: JSON.stringify(dup), expected: 'unique tenant ids' },
    ]);
  }
  collectSecretValues(config, [], secrets);
  return { config, secrets, file: options.file };
}
