// Row shapes of the event log's tables, for Kysely. Integers that PostgreSQL returns as bigint
// strings are typed `number | string` and converted with `Number()` where read.
type Big = number | string;

export interface EvEventsTable {
  position: Big | null;
  row_id?: Big;
  xid?: Big;
  event_id: string;
  tenant_id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  entity_kind: string;
  entity_id: string;
  entity_seq: Big;
  schema_version: number;
  data: string;
  correlation_id: string | null;
  causation_id: string | null;
  traceparent: string | null;
  recorded_at: Big;
  size_bytes: number;
}

export interface EvEntitySeqTable {
  tenant_id: string;
  entity_kind: string;
  entity_id: string;
  seq: Big;
}

export interface EvLogHeadTable {
  id: number;
  position: Big;
}

export interface EvConsumersTable {
  name: string;
  kind: string;
  status: string;
  paused_reason: string | null;
  start_position: Big;
  position: Big;
  generation: number;
  replay_position: Big | null;
  replay_until: Big | null;
  replay_filter: string | null;
  consecutive_failures: number;
  /** Bumped by operator actions that change entity states or held events (drops caches). */
  admin_version: number;
  retry_at: Big | null;
  owner: string | null;
  lease_until: Big | null;
  created_at: Big;
  updated_at: Big;
}

export interface EvConsumerEntitiesTable {
  consumer: string;
  generation: number;
  tenant_id: string;
  entity_kind: string;
  entity_id: string;
  last_seq: Big;
  blocked_seq: Big | null;
}

export interface EvParkedTable {
  consumer: string;
  generation: number;
  event_id: string;
  position: Big;
  tenant_id: string;
  entity_kind: string;
  entity_id: string;
  entity_seq: Big;
  reason: string;
  attempts: number;
  next_attempt_at: Big | null;
  history: string;
  /** The event itself (JSON of LoggedEvent), so a held event survives retention. */
  event: string;
}

export interface EvDeadLettersTable {
  id: string;
  consumer: string;
  generation: number;
  event_id: string;
  position: Big;
  tenant_id: string;
  entity_kind: string;
  entity_id: string;
  entity_seq: Big;
  type: string;
  error: string;
  attempts: number;
  history: string;
  event: string;
  status: string;
  created_at: Big;
  resolved_at: Big | null;
  resolved_by: string | null;
}

export interface EvWebhookEndpointsTable {
  id: string;
  tenant_id: string;
  url: string;
  secret: string;
  types: string | null;
  description: string | null;
  status: string;
  paused_reason: string | null;
  created_at: Big;
  updated_at: Big;
}

export interface EventsDb {
  ev_events: EvEventsTable;
  ev_entity_seq: EvEntitySeqTable;
  ev_log_head: EvLogHeadTable;
  ev_consumers: EvConsumersTable;
  ev_consumer_entities: EvConsumerEntitiesTable;
  ev_parked: EvParkedTable;
  ev_dead_letters: EvDeadLettersTable;
  ev_webhook_endpoints: EvWebhookEndpointsTable;
}
