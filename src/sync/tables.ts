// Kysely row types of the sync engine's tables (see migrations.ts). Internal to src/sync.
import type { Generated } from 'kysely';

export interface SyncCursorsTable {
  tenant_id: string;
  system: string;
  stream: string;
  cursor: string;
  updated_at: string;
}

export interface SyncRawRecordsTable {
  // bigserial comes back from pg as a string; Number() it when read.
  id: Generated<number | string>;
  tenant_id: string;
  system: string;
  stream: string;
  external_id: string;
  source_updated_at: string;
  payload: string;
  deleted: number;
  status: string;
  mapping_version: string | null;
  error: string | null;
  received_at: string;
}

export interface SyncRecordStateTable {
  tenant_id: string;
  system: string;
  stream: string;
  external_id: string;
  source_updated_at: string;
  raw_id: number | string;
  entity_kind: string;
  canonical_id: string;
  fields: string;
  deleted: number;
  mapping_version: string;
  applied_at: string;
}

export interface SyncIdentitiesTable {
  tenant_id: string;
  entity_kind: string;
  system: string;
  external_id: string;
  canonical_id: string;
  created_at: string;
}

export interface SyncLinksTable {
  tenant_id: string;
  from_kind: string;
  from_id: string;
  relation: string;
  to_kind: string;
  to_id: string;
  created_at: string;
}

export interface SyncEffectsTable {
  tenant_id: string;
  system: string;
  business_key: string;
  command_type: string;
  idempotency_key: string;
  args: string;
  status: string;
  attempts: number;
  external_id: string | null;
  effect: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  /** Ledger instance that made the last attempt (null before 0306 or before any attempt). */
  attempt_owner: string | null;
}

export interface SyncWrittenTable {
  tenant_id: string;
  system: string;
  entity_key: string;
  field: string;
  value: string;
  causation_depth: number;
  written_at: string;
}

export interface SyncDeadLettersTable {
  id: Generated<number | string>;
  tenant_id: string;
  code: string;
  entity_key: string;
  detail: string;
  created_at: string;
  resolved_at: string | null;
}

export interface SyncViolationsTable {
  id: Generated<number | string>;
  tenant_id: string;
  system: string;
  owner: string;
  entity_kind: string;
  entity_id: string;
  field: string;
  value: string;
  detected_at: string;
}

export interface SyncDesiredTable {
  tenant_id: string;
  system: string;
  record_key: string;
  fields: string;
  version: number;
  applied_version: number;
  causation_depth: number;
  updated_at: string;
}

export interface SyncDb {
  sync_cursors: SyncCursorsTable;
  sync_raw_records: SyncRawRecordsTable;
  sync_record_state: SyncRecordStateTable;
  sync_identities: SyncIdentitiesTable;
  sync_links: SyncLinksTable;
  sync_effects: SyncEffectsTable;
  sync_written: SyncWrittenTable;
  sync_dead_letters: SyncDeadLettersTable;
  sync_violations: SyncViolationsTable;
  sync_desired: SyncDesiredTable;
}
