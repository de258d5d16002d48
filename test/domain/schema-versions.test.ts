// Entity schemas change only compatibly unless their schema version is bumped: the committed snapshot
// of each kind's JSON Schema is compared with the live one. The compatibility rules themselves are
// checked on small schemas first.
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { incompatibilities, toJsonSchema } from '../../src/domain/index.ts';
import {
  currentSchemaSnapshots,
  readSchemaSnapshots,
  snapshotProblems,
} from '../../src/domain/schema-snapshots.ts';

const base = Type.Object(
  {
    id: Type.String(),
    qty: Type.Integer({ minimum: 0 }),
    note: Type.Optional(Type.String()),
    status: Type.Union([Type.Literal('a'), Type.Literal('b')]),
  },
  { additionalProperties: false },
);

function changed(properties: Record<string, unknown>, omit: string[] = []) {
  const json = toJsonSchema(base) as { properties: Record<string, unknown>; required: string[] };
  const props = { ...json.properties, ...properties };
  for (const k of omit) delete props[k];
  return { ...json, properties: props, required: json.required.filter((r) => !omit.includes(r)) };
}

describe('schema compatibility rules', () => {
  it('accepts an unchanged schema, a new optional field, a widened type and a new enum value', () => {
    expect(incompatibilities(toJsonSchema(base), toJsonSchema(base))).toEqual([]);
    expect(incompatibilities(toJsonSchema(base), changed({ extra: { type: 'string' } }))).toEqual([]);
    expect(incompatibilities(toJsonSchema(base), changed({ qty: { type: 'number', minimum: 0 } }))).toEqual(
      [],
    );
    expect(
      incompatibilities(
        toJsonSchema(base),
        changed({ status: { anyOf: [{ const: 'a' }, { const: 'b' }, { const: 'c' }] } }),
      ),
    ).toEqual([]);
  });

  it('rejects a removed or renamed field, a narrowed type, a new required field and an optional field made required', () => {
    expect(incompatibilities(toJsonSchema(base), changed({}, ['note']))).toEqual([
      expect.stringContaining('field note removed'),
    ]);
    expect(
      incompatibilities(toJsonSchema(base), changed({ qty: { type: 'string' } })).length,
    ).toBeGreaterThan(0);
    expect(incompatibilities(toJsonSchema(base), changed({ qty: { type: 'integer', minimum: 1 } }))).toEqual([
      expect.stringContaining('minimum tightened'),
    ]);
    const json = changed({});
    expect(incompatibilities(toJsonSchema(base), { ...json, required: [...json.required, 'note'] })).toEqual([
      expect.stringContaining('note is now required (was optional)'),
    ]);
    expect(
      incompatibilities(toJsonSchema(base), {
        ...changed({ extra: { type: 'string' } }),
        required: [...json.required, 'extra'],
      }),
    ).toEqual([expect.stringContaining('extra is now required (new)')]);
    expect(incompatibilities(toJsonSchema(base), changed({ status: { anyOf: [{ const: 'a' }] } }))).toEqual([
      expect.stringContaining('"b" no longer allowed'),
    ]);
  });

  it('refuses to refresh a snapshot over an incompatible change at the same version, allows it after a bump', () => {
    const previous = { thing: { schemaVersion: 1, schema: toJsonSchema(base) } };
    expect(
      snapshotProblems(previous, { thing: { schemaVersion: 1, schema: changed({}, ['note']) } }),
    ).toEqual([expect.stringContaining('bump schemaVersion')]);
    expect(
      snapshotProblems(previous, { thing: { schemaVersion: 2, schema: changed({}, ['note']) } }),
    ).toEqual([]);
    expect(
      snapshotProblems(previous, {
        thing: { schemaVersion: 1, schema: changed({ extra: { type: 'string' } }) },
      }),
    ).toEqual([]);
  });
});

describe('entity schema snapshots', () => {
  const committed = readSchemaSnapshots();
  const current = currentSchemaSnapshots();

  it.each(Object.keys(current))('%s matches its committed snapshot at the same schema version', (kind) => {
    const snapshot = committed[kind];
    expect(snapshot, `no snapshot for ${kind}: run node bin/run-ts.js scripts/dump-schema.ts`).toBeDefined();
    const now = current[kind]!;
    if (now.schemaVersion === snapshot!.schemaVersion) {
      // An incompatible change needs a version bump; a compatible one needs the snapshot refreshed.
      expect(incompatibilities(snapshot!.schema, now.schema), `${kind}: bump schemaVersion`).toEqual([]);
    }
    expect(now, `${kind} changed: run node bin/run-ts.js scripts/dump-schema.ts`).toEqual(snapshot);
  });
});
