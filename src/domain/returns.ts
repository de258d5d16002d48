// ReturnAuthorization and Replacement: goods coming back, and goods sent again instead.
import { Type, type Static } from '@sinclair/typebox';
import { entitySchema, idSchema } from './common.ts';
import { DecimalSchema } from './money.ts';
import { RETURN_STATES, stateSchema } from './states.ts';

const ReturnLineSchema = Type.Object(
  {
    orderLineId: Type.Optional(idSchema('orderLine')),
    itemId: Type.Optional(idSchema('item')),
    sku: Type.String(),
    quantity: DecimalSchema,
  },
  { additionalProperties: false },
);

export const ReturnAuthorizationSchema = entitySchema('returnAuthorization', 'ReturnAuthorization', {
  number: Type.Optional(Type.String()),
  orderId: idSchema('order'),
  customerId: idSchema('customer'),
  caseId: Type.Optional(idSchema('case')),
  status: stateSchema(RETURN_STATES, 'See docs/states.md#return'),
  reason: Type.String({ minLength: 1 }),
  lines: Type.Array(ReturnLineSchema, { minItems: 1 }),
});
export type ReturnAuthorization = Static<typeof ReturnAuthorizationSchema>;

export const REPLACEMENT_STATUSES = [
  'requested',
  'approved',
  'ordered',
  'shipped',
  'rejected',
  'cancelled',
] as const;
export type ReplacementStatus = (typeof REPLACEMENT_STATUSES)[number];

export const ReplacementSchema = entitySchema('replacement', 'Replacement', {
  originalOrderId: idSchema('order'),
  replacementOrderId: Type.Optional(idSchema('order')),
  returnAuthorizationId: Type.Optional(idSchema('returnAuthorization')),
  caseId: Type.Optional(idSchema('case')),
  status: Type.Union(REPLACEMENT_STATUSES.map((s) => Type.Literal(s))),
  reason: Type.String({ minLength: 1 }),
  lines: Type.Array(ReturnLineSchema, { minItems: 1 }),
});
export type Replacement = Static<typeof ReplacementSchema>;
