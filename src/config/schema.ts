// The one schema of Crossdock's configuration. The YAML file, the environment overrides and
// docs/config.md (generated) all derive from it; a key is valid only if it is declared here.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { EventsConfigFragment } from '../events/config.ts';
import { JourneysConfigFragment } from '../journeys/config.ts';

/** Marks a string as secret: never printed, never logged, scrubbed from every log line. */
export const SECRET = 'x-secret';
/** Names an extra environment variable that overrides a key (besides the derived CROSSDOCK_A_B name). */
export const ENV_ALIAS = 'x-env-alias';

function secret(options: { description: string; minLength?: number }) {
  return Type.String({ ...options, [SECRET]: true });
}

const TenantId = Type.String({
  pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
  description: 'Tenant id: lowercase letters, digits and dashes, at most 63 characters.',
});

export const SCOPES = [
  'admin',
  'runs:read',
  'runs:write',
  'events:read',
  'events:write',
  'entities:read',
  'entities:write',
  'tasks:read',
  'tasks:write',
] as const;

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({
      default: './data',
      description:
        'Folder for the embedded database, the bootstrap admin key and other local state; created if missing.',
    }),
    server: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1', description: 'Address the HTTP server listens on.' }),
        port: Type.Integer({
          minimum: 0,
          maximum: 65535,
          default: 7400,
          description: 'Port of the HTTP server (0 picks a free port).',
          [ENV_ALIAS]: 'CROSSDOCK_PORT',
        }),
        bodyLimitBytes: Type.Integer({
          minimum: 1024,
          maximum: 64 * 1024 * 1024,
          default: 1024 * 1024,
          description: 'Largest request body accepted, in bytes; larger bodies get 413.',
        }),
        shutdownTimeoutMs: Type.Integer({
          minimum: 0,
          default: 10_000,
          description: 'On SIGTERM, how long in-flight requests and work may take to finish, in ms.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    store: Type.Object(
      {
        dialect: Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')], {
          default: 'sqlite',
          description: '`sqlite` for embedded mode (one process), `postgres` for cluster mode.',
        }),
        sqlitePath: Type.Optional(
          Type.String({ description: 'SQLite database file (default `<dataDir>/crossdock.db`).' }),
        ),
        postgresUrl: Type.Optional(
          secret({
            description:
              'PostgreSQL connection URL, e.g. `${env:DATABASE_URL}`; required when dialect is postgres.',
          }),
        ),
        postgresPoolSize: Type.Integer({
          minimum: 1,
          maximum: 200,
          default: 10,
          description: 'Connections in the PostgreSQL pool.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { default: 'info', description: 'Minimum log level written.' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    metrics: Type.Object(
      {
        token: Type.Optional(
          secret({
            minLength: 16,
            description:
              'When set, `GET /metrics` requires `Authorization: Bearer <token>`; otherwise it is public.',
          }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: Type.Object(
      {
        apiKeys: Type.Array(
          Type.Object(
            {
              id: Type.String({
                pattern: '^[A-Za-z0-9_.-]{1,64}$',
                description: 'Name of the key, shown in logs and audit.',
              }),
              key: secret({ minLength: 24, description: 'The key itself (at least 24 characters).' }),
              scopes: Type.Array(Type.Union(SCOPES.map((s) => Type.Literal(s))), {
                minItems: 1,
                description: `Scopes granted: ${SCOPES.join(', ')}. \`admin\` grants all.`,
              }),
              tenants: Type.Union([Type.Literal('*'), Type.Array(TenantId, { minItems: 1 })], {
                default: '*',
                description: 'Tenants the key may act for, or `*` for all.',
              }),
            },
            { additionalProperties: false },
          ),
          {
            default: [],
            description:
              'API keys accepted as `Authorization: Bearer <key>`. When empty, Crossdock creates an admin key at `<dataDir>/admin.key` (mode 0600) on first start.',
          },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    tenants: Type.Array(
      Type.Object(
        {
          id: TenantId,
          name: Type.Optional(Type.String({ description: 'Display name.' })),
        },
        { additionalProperties: false },
      ),
      {
        minItems: 1,
        default: [{ id: 'default' }],
        description: 'Tenants served by this installation; one tenant `default` when none is given.',
      },
    ),
    // Event log: cluster mode over NATS JetStream (src/events/config.ts).
    ...EventsConfigFragment,
    // Connected systems, journeys, mappings and ownership (src/journeys/config.ts).
    ...JourneysConfigFragment,
  },
  { additionalProperties: false },
);

export type CrossdockConfig = Static<typeof ConfigSchema>;
export type Scope = (typeof SCOPES)[number];

export function isSecretSchema(schema: TSchema): boolean {
  return (schema as Record<string, unknown>)[SECRET] === true;
}
