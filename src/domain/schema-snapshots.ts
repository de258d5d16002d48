// Snapshots of each entity kind's JSON Schema at its current schema version, committed in
// schema-snapshots.json. `node bin/run-ts.js scripts/dump-schema.ts` refreshes them; the schema-version
// test compares the live schemas against them.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENTITY_KIND_NAMES, ENTITY_KINDS } from './entity-kinds.ts';
import { incompatibilities, toJsonSchema } from './schema-compat.ts';

export interface SchemaSnapshot {
  readonly schemaVersion: number;
  readonly schema: Record<string, unknown>;
}

export const SCHEMA_SNAPSHOT_FILE = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'schema-snapshots.json',
);

/** The snapshot of every kind as the code defines it now. */
export function currentSchemaSnapshots(): Record<string, SchemaSnapshot> {
  const out: Record<string, SchemaSnapshot> = {};
  for (const kind of ENTITY_KIND_NAMES) {
    out[kind] = {
      schemaVersion: ENTITY_KINDS[kind].schemaVersion,
      schema: toJsonSchema(ENTITY_KINDS[kind].schema),
    };
  }
  return out;
}

export function readSchemaSnapshots(): Record<string, SchemaSnapshot> {
  if (!fs.existsSync(SCHEMA_SNAPSHOT_FILE)) return {};
  return JSON.parse(fs.readFileSync(SCHEMA_SNAPSHOT_FILE, 'utf8')) as Record<string, SchemaSnapshot>;
}

/** Problems that forbid refreshing the snapshots: an incompatible change at an unchanged version. */
export function snapshotProblems(
  previous: Record<string, SchemaSnapshot>,
  current: Record<string, SchemaSnapshot>,
): string[] {
  const problems: string[] = [];
  for (const [kind, now] of Object.entries(current)) {
    const before = previous[kind];
    if (before === undefined) continue;
    if (now.schemaVersion < before.schemaVersion) {
      problems.push(`${kind}: schema version went back from ${before.schemaVersion} to ${now.schemaVersion}`);
    } else if (now.schemaVersion === before.schemaVersion) {
      for (const p of incompatibilities(before.schema, now.schema)) {
        problems.push(
          `${kind} v${now.schemaVersion}: ${p} (bump schemaVersion in src/domain/entity-kinds.ts)`,
        );
      }
    }
  }
  for (const kind of Object.keys(previous)) {
    if (!(kind in current)) problems.push(`${kind}: entity kind removed`);
  }
  return problems;
}

/** Rewrites the snapshot file; refuses (throws) when a kind changed incompatibly without a version bump. */
export function writeSchemaSnapshots(): void {
  const current = currentSchemaSnapshots();
  const problems = snapshotProblems(readSchemaSnapshots(), current);
  if (problems.length > 0) {
    throw new Error(`entity schemas changed incompatibly without a version bump:\n${problems.join('\n')}`);
  }
  fs.writeFileSync(SCHEMA_SNAPSHOT_FILE, `${JSON.stringify(current, null, 2)}\n`);
}
