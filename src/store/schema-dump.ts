// A deterministic text dump of the schema a store holds (tables, columns, constraints, indexes,
// triggers, views), used for the committed per-dialect schema files and the test that fails when
// they are stale. Built from catalog queries rather than pg_dump so the text does not change with the
// server version.
import { sql } from 'kysely';
import type { Store } from './store.ts';

export async function dumpSchema(store: Store): Promise<string> {
  return store.dialect === 'sqlite' ? dumpSqlite(store) : dumpPostgres(store);
}

async function dumpSqlite(store: Store): Promise<string> {
  const { rows } = await sql<{ type: string; name: string; tbl_name: string; sql: string }>`
    select type, name, tbl_name, sql from sqlite_master
    where sql is not null and name not like 'sqlite_%'
    order by tbl_name, case type when 'table' then 0 when 'index' then 1 else 2 end, name`.execute(
    store.db(),
  );
  return rows.map((r) => `${r.sql.trim()};\n`).join('\n');
}

async function dumpPostgres(store: Store): Promise<string> {
  const db = store.db();
  const out: string[] = [];
  const tables = await sql<{ relname: string; oid: number }>`
    select c.relname, c.oid::int as oid from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p') order by c.relname`.execute(db);
  for (const table of tables.rows) {
    const columns = await sql<{ attname: string; type: string; notnull: boolean; def: string | null }>`
      select a.attname, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as notnull,
             pg_get_expr(d.adbin, d.adrelid) as def
      from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      where a.attrelid = ${table.oid} and a.attnum > 0 and not a.attisdropped order by a.attnum`.execute(db);
    const constraints = await sql<{ conname: string; def: string }>`
      select conname, pg_get_constraintdef(oid, true) as def from pg_constraint
      where conrelid = ${table.oid} order by conname`.execute(db);
    const lines = [
      ...columns.rows.map(
        (c) =>
          `  ${c.attname} ${c.type}${c.notnull ? ' not null' : ''}${c.def === null ? '' : ` default ${c.def}`}`,
      ),
      ...constraints.rows.map((c) => `  constraint ${c.conname} ${c.def}`),
    ];
    out.push(`create table ${table.relname} (\n${lines.join(',\n')}\n);\n`);
  }
  const indexes = await sql<{ indexdef: string }>`
    select indexdef from pg_indexes where schemaname = 'public' order by tablename, indexname`.execute(db);
  if (indexes.rows.length > 0) out.push(indexes.rows.map((i) => `${i.indexdef};`).join('\n') + '\n');
  const views = await sql<{ viewname: string; def: string }>`
    select viewname, pg_get_viewdef(viewname::regclass, true) as def from pg_views
    where schemaname = 'public' order by viewname`.execute(db);
  for (const v of views.rows) out.push(`create view ${v.viewname} as\n${v.def.trim()}\n`);
  const functions = await sql<{ def: string }>`
    select pg_get_functiondef(p.oid) as def from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public' order by p.proname, p.oid::regprocedure::text`.execute(db);
  for (const f of functions.rows) out.push(`${f.def.trim()};\n`);
  const triggers = await sql<{ def: string }>`
    select pg_get_triggerdef(t.oid, true) as def from pg_trigger t join pg_class c on c.oid = t.tgrelid
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and not t.tgisinternal order by c.relname, t.tgname`.execute(db);
  for (const t of triggers.rows) out.push(`${t.def};\n`);
  return out.join('\n');
}
