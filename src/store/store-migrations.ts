// The store's and the canonical model's own tables (ids 0001-0099). Other parts export theirs from
// their index; the composition root passes every list to `store.migrate`.
//
// ent_entities       one row per canonical entity: the JSON document plus the columns queries need
// ent_external_refs  (tenant, kind, system, external id) -> entity, unique: one entity per foreign id
// ent_links          directed edges between entities of one tenant (order -> customer, shipment -> order)
import type { Migration } from './migration.ts';

export const storeMigrations: Migration[] = [
  {
    id: '0001_entities',
    description: 'canonical entities, their external references and the link graph',
    sqlite: `
create table ent_entities (
  tenant_id text not null,
  id text not null,
  kind text not null,
  version integer not null,
  schema_version integer not null,
  data text not null,
  created_at text not null,
  updated_at text not null,
  last_changed_by text not null,
  primary key (tenant_id, id)
);
create index ent_entities_kind on ent_entities (tenant_id, kind, id);
create table ent_external_refs (
  tenant_id text not null,
  kind text not null,
  system text not null,
  external_id text not null,
  entity_id text not null,
  primary key (tenant_id, kind, system, external_id)
) without rowid;
create index ent_external_refs_entity on ent_external_refs (tenant_id, entity_id);
create table ent_links (
  tenant_id text not null,
  from_id text not null,
  to_id text not null,
  relation text not null,
  created_at text not null,
  primary key (tenant_id, from_id, to_id, relation)
) without rowid;
create index ent_links_to on ent_links (tenant_id, to_id);
`,
    postgres: `
create table ent_entities (
  tenant_id text not null,
  id text not null,
  kind text not null,
  version integer not null,
  schema_version integer not null,
  data jsonb not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  last_changed_by text not null,
  primary key (tenant_id, id)
);
create index ent_entities_kind on ent_entities (tenant_id, kind, id);
create table ent_external_refs (
  tenant_id text not null,
  kind text not null,
  system text not null,
  external_id text not null,
  entity_id text not null,
  primary key (tenant_id, kind, system, external_id)
);
create index ent_external_refs_entity on ent_external_refs (tenant_id, entity_id);
create table ent_links (
  tenant_id text not null,
  from_id text not null,
  to_id text not null,
  relation text not null,
  created_at timestamptz not null,
  primary key (tenant_id, from_id, to_id, relation)
);
create index ent_links_to on ent_links (tenant_id, to_id);
`,
  },
];
