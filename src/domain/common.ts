// Pieces every canonical entity shares: the external reference `{system, id}`, timestamps, and the
// envelope fields (id, tenant, references, version, timestamps, last writer) added to each schema.
import { FormatRegistry, Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import { idPattern, type IdKind } from './ids.ts';

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
if (!FormatRegistry.Has('date-time'))
  FormatRegistry.Set('date-time', (v) => ISO_DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)));
if (!FormatRegistry.Has('date'))
  FormatRegistry.Set('date', (v) => ISO_DATE.test(v) && !Number.isNaN(Date.parse(v)));

export const TimestampSchema = Type.String({ format: 'date-time', description: 'ISO 8601 instant' });
export const DateSchema = Type.String({ format: 'date', description: 'ISO 8601 calendar date' });

/** Where an entity lives in another system: `{ system: 'tryton', id: '42' }`. */
export const ExternalRefSchema = Type.Object(
  {
    system: Type.String({
      minLength: 1,
      description: 'Configured system name, e.g. `tryton`, `request-tracker`',
    }),
    id: Type.String({ minLength: 1, description: "The entity's id in that system" }),
  },
  { additionalProperties: false },
);
export type ExternalRef = Static<typeof ExternalRefSchema>;

export function idSchema(kind: IdKind, description?: string) {
  return Type.String({ pattern: idPattern(kind), ...(description === undefined ? {} : { description }) });
}

/** Free-form custom fields (filled by JSONata mappings); not interpreted by Crossdock. */
export const AttributesSchema = Type.Record(Type.String(), Type.Unknown(), {
  description: 'Custom fields from mappings, kept as given',
});

/** The envelope every entity carries, then its own fields. */
export function entitySchema<P extends TProperties>(kind: IdKind, title: string, properties: P) {
  return Type.Object(
    {
      id: idSchema(kind, 'Canonical id, sortable by creation time'),
      tenantId: Type.String({ minLength: 1, description: 'Tenant the entity belongs to' }),
      externalRefs: Type.Array(ExternalRefSchema, {
        description: 'Where this entity lives in other systems',
      }),
      version: Type.Integer({
        minimum: 0,
        description: 'Optimistic-concurrency version, +1 per stored change',
      }),
      createdAt: TimestampSchema,
      updatedAt: TimestampSchema,
      lastChangedBy: Type.String({
        minLength: 1,
        description: 'System that made the last change (`crossdock` for us)',
      }),
      attributes: Type.Optional(AttributesSchema),
      ...properties,
    },
    { additionalProperties: false, title },
  );
}

/** Type of the envelope fields, for code that handles any entity. */
export type EntityEnvelope = Static<ReturnType<typeof entitySchema<Record<never, never>>>>;

export type EntitySchema = TObject;
