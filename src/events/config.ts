// Configuration of the event log: the TypeBox fragment the config part merges into the root schema
// (key `events`). Setting `events.nats` turns on cluster mode (relay to JetStream, partitioned
// consumers); it requires `store.dialect: postgres`, which the config loader checks.
import { Type, type Static } from '@sinclair/typebox';
import type { EventClusterOptions } from './event-cluster.ts';

/** Marks a key secret for the config loader (never printed, scrubbed from logs); see src/config/schema.ts. */
const SECRET = { 'x-secret': true } as const;

export const NatsConfigSchema = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      description:
        'NATS server URL, e.g. `nats://127.0.0.1:4222` (several separated by commas); setting it turns on cluster mode.',
    }),
    stream: Type.String({
      pattern: '^[A-Za-z0-9_-]{1,64}$',
      default: 'CROSSDOCK_EVENTS',
      description: 'JetStream stream the log is relayed to; created when missing.',
    }),
    subjectPrefix: Type.String({
      pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$',
      default: 'crossdock.events',
      description: 'Subject prefix: events go to `<prefix>.<tenant>.<partition>.<noun>.<verb>`.',
    }),
    token: Type.Optional(
      Type.String({ minLength: 1, description: 'Token for NATS token authentication.', ...SECRET }),
    ),
    user: Type.Optional(
      Type.String({ minLength: 1, description: 'User for NATS user/password authentication.' }),
    ),
    password: Type.Optional(
      Type.String({ minLength: 1, description: 'Password for `events.nats.user`.', ...SECRET }),
    ),
    ackWaitMs: Type.Integer({
      minimum: 1000,
      default: 30_000,
      description:
        'How long JetStream waits for a partition consumer to acknowledge a message before redelivering it, in ms.',
    }),
    duplicateWindowMs: Type.Integer({
      minimum: 1000,
      default: 600_000,
      description:
        'JetStream duplicate window of a newly created stream, in ms: how long a republished event is recognised by its id.',
    }),
  },
  { additionalProperties: false },
);
export type NatsConfig = Static<typeof NatsConfigSchema>;

/** The fragment to merge into the root config schema. */
export const EventsConfigFragment = {
  events: Type.Object(
    {
      partitions: Type.Integer({
        minimum: 1,
        maximum: 1024,
        default: 16,
        description:
          'Entity partitions of cluster mode: each is consumed by one process at a time. Fixed for the life of a stream.',
      }),
      nats: Type.Optional(NatsConfigSchema),
    },
    { additionalProperties: false, default: {} },
  ),
};

export const EventsConfigSchema = Type.Object(EventsConfigFragment);
export type EventsConfig = Static<typeof EventsConfigSchema>['events'];

/** Cluster options from the configuration; undefined in embedded mode (no `events.nats`). */
export function clusterOptionsOf(events: EventsConfig): EventClusterOptions | undefined {
  const nats = events.nats;
  if (nats === undefined) return undefined;
  return {
    servers: nats.url,
    stream: nats.stream,
    subjectPrefix: nats.subjectPrefix,
    partitions: events.partitions,
    ackWaitMs: nats.ackWaitMs,
    duplicateWindowMs: nats.duplicateWindowMs,
    ...(nats.token === undefined ? {} : { token: nats.token }),
    ...(nats.user === undefined ? {} : { user: nats.user }),
    ...(nats.password === undefined ? {} : { password: nats.password }),
  };
}
