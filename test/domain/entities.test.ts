// The canonical entities: every kind has an envelope (id, tenant, refs, version, timestamps, last
// writer), sortable ids of its own prefix, and a schema that accepts good data and points at bad fields.
import { describe, expect, it } from 'vitest';
import {
  ENTITY_KIND_NAMES,
  ENTITY_KINDS,
  assertValidEntity,
  entityJsonSchema,
  isCanonicalId,
  kindOfId,
  newId,
  validateEntity,
} from '../../src/domain/index.ts';
import { example } from './examples.ts';

describe('canonical entities', () => {
  it.each(ENTITY_KIND_NAMES)('%s: the example validates and carries the shared envelope', (kind) => {
    const entity = example(kind);
    expect(validateEntity(kind, entity)).toEqual([]);
    const props = Object.keys((ENTITY_KINDS[kind].schema as { properties: object }).properties);
    for (const field of [
      'id',
      'tenantId',
      'externalRefs',
      'version',
      'createdAt',
      'updatedAt',
      'lastChangedBy',
    ]) {
      expect(props).toContain(field);
    }
    expect(ENTITY_KINDS[kind].schemaVersion).toBeGreaterThanOrEqual(1);
    expect(kindOfId(entity.id)).toBe(kind);
    const published = entityJsonSchema(kind);
    expect(published).toMatchObject({
      $id: `urn:crossdock:entity:${kind}:v${ENTITY_KINDS[kind].schemaVersion}`,
      'x-schema-version': ENTITY_KINDS[kind].schemaVersion,
      type: 'object',
    });
    expect(JSON.parse(JSON.stringify(published))).toEqual(published);
  });

  it('rejects unknown fields, a malformed id, float money and a bad currency, naming the field', () => {
    const order = example('order');
    expect(validateEntity('order', { ...order, colour: 'red' }).length).toBeGreaterThan(0);
    expect(validateEntity('order', { ...order, id: 'ord_123' }).map((i) => i.pointer)).toContain('/id');
    expect(validateEntity('order', { ...order, customerId: newId('case') }).map((i) => i.pointer)).toContain(
      '/customerId',
    );
    expect(
      validateEntity('order', { ...order, total: { amount: 12.5, currency: 'USD' } }).map((i) => i.pointer),
    ).toContain('/total/amount');
    expect(
      validateEntity('order', { ...order, total: { amount: '12.50', currency: 'usd' } }).map(
        (i) => i.pointer,
      ),
    ).toContain('/total/currency');
    expect(validateEntity('order', { ...order, status: 'teleported' }).map((i) => i.pointer)).toContain(
      '/status',
    );
    expect(validateEntity('order', { ...order, orderedAt: 'yesterday' }).map((i) => i.pointer)).toContain(
      '/orderedAt',
    );
    expect(() => assertValidEntity('order', { ...order, version: -1 })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }) as Error,
    );
  });

  it('makes ids that sort in creation order, even within one millisecond', () => {
    const ids = Array.from({ length: 2000 }, () => newId('order'));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 10)) expect(isCanonicalId(id, 'order')).toBe(true);
    expect(isCanonicalId(ids[0]!, 'case')).toBe(false);
    expect(isCanonicalId('ord_not-a-ulid')).toBe(false);
  });
});
