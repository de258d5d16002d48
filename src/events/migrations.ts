// Tables of the event log (ids 0200-0299). Both dialects side by side. On SQLite the position is
// the row id: one writer, so insertion order is commit order. On PostgreSQL rows carry the id of the
// transaction that wrote them and get their position later, from the publisher (see event-log.ts).
import type { EventMigration } from './store-port.ts';

const consumerTables = (big: string, text: string) => `
create table ev_consumers (
  name ${text} primary key,
  kind ${text} not null,
  status ${text} not null,
  paused_reason ${text},
  start_position ${big} not null,
  position ${big} not null,
  generation integer not null default 0,
  replay_position ${big},
  replay_until ${big},
  replay_filter ${text},
  consecutive_failures integer not null default 0,
  admin_version integer not null default 0,
  retry_at ${big},
  owner ${text},
  lease_until ${big},
  created_at ${big} not null,
  updated_at ${big} not null
);
create table ev_consumer_entities (
  consumer ${text} not null,
  generation integer not null,
  tenant_id ${text} not null,
  entity_kind ${text} not null,
  entity_id ${text} not null,
  last_seq ${big} not null,
  blocked_seq ${big},
  primary key (consumer, generation, tenant_id, entity_kind, entity_id)
);
create table ev_parked (
  consumer ${text} not null,
  generation integer not null,
  event_id ${text} not null,
  position ${big} not null,
  tenant_id ${text} not null,
  entity_kind ${text} not null,
  entity_id ${text} not null,
  entity_seq ${big} not null,
  reason ${text} not null,
  attempts integer not null default 0,
  next_attempt_at ${big},
  history ${text} not null,
  event ${text} not null,
  primary key (consumer, generation, event_id)
);
create index ev_parked_entity on ev_parked (consumer, generation, tenant_id, entity_kind, entity_id, entity_seq);
create index ev_parked_due on ev_parked (consumer, reason, next_attempt_at);
create table ev_dead_letters (
  id ${text} primary key,
  consumer ${text} not null,
  generation integer not null,
  event_id ${text} not null,
  position ${big} not null,
  tenant_id ${text} not null,
  entity_kind ${text} not null,
  entity_id ${text} not null,
  entity_seq ${big} not null,
  type ${text} not null,
  error ${text} not null,
  attempts integer not null,
  history ${text} not null,
  event ${text} not null,
  status ${text} not null,
  created_at ${big} not null,
  resolved_at ${big},
  resolved_by ${text}
);
create index ev_dead_letters_consumer on ev_dead_letters (consumer, status, created_at);
create index ev_dead_letters_tenant on ev_dead_letters (tenant_id, status, created_at);
create table ev_webhook_endpoints (
  id ${text} primary key,
  tenant_id ${text} not null,
  url ${text} not null,
  secret ${text} not null,
  types ${text},
  description ${text},
  status ${text} not null,
  paused_reason ${text},
  created_at ${big} not null,
  updated_at ${big} not null
);
create index ev_webhook_endpoints_tenant on ev_webhook_endpoints (tenant_id);
`;

const eventColumns = (big: string, text: string) => `
  event_id ${text} not null unique,
  tenant_id ${text} not null,
  type ${text} not null,
  source ${text} not null,
  subject ${text} not null,
  time ${text} not null,
  entity_kind ${text} not null,
  entity_id ${text} not null,
  entity_seq ${big} not null,
  schema_version integer not null,
  data ${text} not null,
  correlation_id ${text},
  causation_id ${text},
  traceparent ${text},
  recorded_at ${big} not null,
  size_bytes integer not null`;

export const eventsMigrations: EventMigration[] = [
  {
    id: '0200_events_log',
    description: 'Event log (outbox), per-entity sequences, consumers, parked events, dead letters, webhooks',
    sqlite: `
create table ev_events (
  position integer primary key autoincrement,${eventColumns('integer', 'text')}
);
create unique index ev_events_entity_seq on ev_events (tenant_id, entity_kind, entity_id, entity_seq);
create index ev_events_recorded on ev_events (recorded_at);
create table ev_entity_seq (
  tenant_id text not null,
  entity_kind text not null,
  entity_id text not null,
  seq integer not null,
  primary key (tenant_id, entity_kind, entity_id)
);
create table ev_log_head (id integer primary key, position integer not null);
insert into ev_log_head (id, position) values (1, 0);
${consumerTables('integer', 'text')}`,
    postgres: `
create table ev_events (
  row_id bigserial primary key,
  position bigint unique,
  xid bigint not null,${eventColumns('bigint', 'text')}
);
create unique index ev_events_entity_seq on ev_events (tenant_id, entity_kind, entity_id, entity_seq);
create index ev_events_recorded on ev_events (recorded_at);
create index ev_events_unpublished on ev_events (row_id) where position is null;
create table ev_entity_seq (
  tenant_id text not null,
  entity_kind text not null,
  entity_id text not null,
  seq bigint not null,
  primary key (tenant_id, entity_kind, entity_id)
);
create table ev_log_head (id integer primary key, position bigint not null);
insert into ev_log_head (id, position) values (1, 0);
${consumerTables('bigint', 'text')}`,
  },
];
