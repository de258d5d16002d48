// Tables of the order-visibility journey (prefix `jrn_`, ids 0500-0599): the captured records of each
// order it summarises, the case-to-order links with the last summary set and its write retry state, and
// one row per (case, milestone) so a milestone comment is queued exactly once and retried until written.
import type { Migration } from '../../store/index.ts';

const tables = (json: string) => `
create table jrn_order_parts (
  tenant_id text not null,
  order_number text not null,
  part_kind text not null,
  part_id text not null,
  fields ${json} not null,
  source_updated_at text not null,
  primary key (tenant_id, order_number, part_kind, part_id)
);
create table jrn_case_links (
  tenant_id text not null,
  case_id text not null,
  case_key text not null,
  order_number text not null,
  summary ${json},
  pending_since text,
  write_attempts integer not null default 0,
  write_next_at text,
  write_error text,
  write_failed integer not null default 0,
  linked_at text not null,
  primary key (tenant_id, case_id)
);
create index jrn_case_links_order on jrn_case_links (tenant_id, order_number);
create table jrn_milestones (
  tenant_id text not null,
  case_id text not null,
  milestone_key text not null,
  ord integer not null,
  body text not null,
  status text not null,
  attempts integer not null default 0,
  next_at text,
  last_error text,
  created_at text not null,
  written_at text,
  primary key (tenant_id, case_id, milestone_key)
);
create index jrn_milestones_due on jrn_milestones (tenant_id, status, next_at)`;

export const journeysMigrations: Migration[] = [
  {
    id: '0500_journeys_order_visibility',
    description: 'Order-visibility journey: order parts, case links with write state, milestone queue',
    sqlite: tables('text'),
    postgres: tables('text'),
  },
];

export interface JrnOrderPartsTable {
  tenant_id: string;
  order_number: string;
  part_kind: string;
  part_id: string;
  fields: string;
  source_updated_at: string;
}

export interface JrnCaseLinksTable {
  tenant_id: string;
  case_id: string;
  case_key: string;
  order_number: string;
  summary: string | null;
  pending_since: string | null;
  write_attempts: number;
  write_next_at: string | null;
  write_error: string | null;
  write_failed: number;
  linked_at: string;
}

export interface JrnMilestonesTable {
  tenant_id: string;
  case_id: string;
  milestone_key: string;
  /** Position among the milestones queued in the same transaction (lifecycle order). */
  ord: number;
  body: string;
  /** `pending` (to write), `written`, `covered` (before the case was linked: in its first comment), `failed`. */
  status: string;
  attempts: number;
  next_at: string | null;
  last_error: string | null;
  created_at: string;
  written_at: string | null;
}

export interface JourneysDb {
  jrn_order_parts: JrnOrderPartsTable;
  jrn_case_links: JrnCaseLinksTable;
  jrn_milestones: JrnMilestonesTable;
}
