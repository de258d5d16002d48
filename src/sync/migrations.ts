// The sync engine's tables (ids 0300-0399): capture state (cursors, raw records, per-record high-water
// marks), identities and links, the effect ledger, echo memory, ownership violations, desired state.
// Times are stored as ISO 8601 text (source times normalised to microseconds, see source-time.ts) so
// both dialects compare them the same way; JSON is stored as text for the same reason.
import type { Migration } from '../store/index.ts';

const id = { sqlite: 'integer primary key autoincrement', postgres: 'bigserial primary key' } as const;

function both(make: (d: 'sqlite' | 'postgres') => string): { sqlite: string; postgres: string } {
  return { sqlite: make('sqlite'), postgres: make('postgres') };
}

export const syncMigrations: Migration[] = [
  {
    id: '0300_sync_capture',
    description:
      'Capture state: stream cursors, raw source records with mapping version, per-record high-water marks',
    ...both(
      (d) => `
create table sync_cursors (
  tenant_id text not null, system text not null, stream text not null,
  cursor text not null, updated_at text not null,
  primary key (tenant_id, system, stream)
);
create table sync_raw_records (
  id ${id[d]},
  tenant_id text not null, system text not null, stream text not null, external_id text not null,
  source_updated_at text not null,
  payload text not null, deleted integer not null default 0,
  status text not null, mapping_version text, error text,
  received_at text not null,
  unique (tenant_id, system, stream, external_id, source_updated_at)
);
create table sync_record_state (
  tenant_id text not null, system text not null, stream text not null, external_id text not null,
  source_updated_at text not null, raw_id bigint not null,
  entity_kind text not null, canonical_id text not null,
  fields text not null, deleted integer not null default 0,
  mapping_version text not null, applied_at text not null,
  primary key (tenant_id, system, stream, external_id)
);
create index sync_record_state_entity on sync_record_state (tenant_id, entity_kind, canonical_id)`,
    ),
  },
  {
    id: '0301_sync_identity',
    description:
      'External ids resolved to canonical ids, and the correlation graph between canonical entities',
    ...both(
      () => `
create table sync_identities (
  tenant_id text not null, entity_kind text not null, system text not null, external_id text not null,
  canonical_id text not null, created_at text not null,
  primary key (tenant_id, entity_kind, system, external_id)
);
create index sync_identities_canonical on sync_identities (tenant_id, entity_kind, canonical_id);
create table sync_links (
  tenant_id text not null,
  from_kind text not null, from_id text not null, relation text not null,
  to_kind text not null, to_id text not null,
  created_at text not null,
  primary key (tenant_id, from_kind, from_id, relation, to_kind, to_id)
);
create index sync_links_to on sync_links (tenant_id, to_kind, to_id)`,
    ),
  },
  {
    id: '0302_sync_effects',
    description:
      'Effect ledger: every write to another system by business key, recorded before and after sending',
    ...both(
      () => `
create table sync_effects (
  tenant_id text not null, system text not null, business_key text not null,
  command_type text not null, idempotency_key text not null, args text not null,
  status text not null, attempts integer not null default 0,
  external_id text, effect text, last_error text,
  created_at text not null, updated_at text not null,
  primary key (tenant_id, system, business_key)
);
create index sync_effects_status on sync_effects (tenant_id, status)`,
    ),
  },
  {
    id: '0303_sync_echo',
    description: 'Echo memory (the normalised value Crossdock last wrote per field) and sync dead letters',
    ...both(
      (d) => `
create table sync_written (
  tenant_id text not null, system text not null, entity_key text not null, field text not null,
  value text not null, causation_depth integer not null, written_at text not null,
  primary key (tenant_id, system, entity_key, field)
);
create table sync_dead_letters (
  id ${id[d]},
  tenant_id text not null, code text not null, entity_key text not null,
  detail text not null, created_at text not null, resolved_at text
);
create index sync_dead_letters_open on sync_dead_letters (tenant_id, resolved_at)`,
    ),
  },
  {
    id: '0304_sync_ownership',
    description: 'Field ownership violations an operator can list',
    ...both(
      (d) => `
create table sync_violations (
  id ${id[d]},
  tenant_id text not null, system text not null, owner text not null,
  entity_kind text not null, entity_id text not null, field text not null,
  value text not null, detected_at text not null
);
create index sync_violations_tenant on sync_violations (tenant_id, id)`,
    ),
  },
  {
    id: '0305_sync_desired',
    description: 'Desired state per target record, versioned so bursts of changes coalesce into one write',
    ...both(
      () => `
create table sync_desired (
  tenant_id text not null, system text not null, record_key text not null,
  fields text not null, version integer not null, applied_version integer not null default 0,
  causation_depth integer not null default 0, updated_at text not null,
  primary key (tenant_id, system, record_key)
);
create index sync_desired_pending on sync_desired (tenant_id, system)`,
    ),
  },
  {
    id: '0306_sync_effect_owner',
    description:
      'Which ledger instance made an effect attempt, so a sole process can take over its predecessor’s at once',
    ...both(() => `alter table sync_effects add column attempt_owner text`),
  },
];
