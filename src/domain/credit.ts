// CreditStatus and CreditHold: whether a customer may buy on credit, and holds placed on orders.
import { Type, type Static } from '@sinclair/typebox';
import { entitySchema, idSchema, TimestampSchema } from './common.ts';
import { MoneySchema } from './money.ts';
import { CREDIT_STATES, stateSchema } from './states.ts';

export const CreditStatusSchema = entitySchema('creditStatus', 'CreditStatus', {
  customerId: idSchema('customer'),
  status: stateSchema(CREDIT_STATES, 'See docs/states.md#credit'),
  creditLimit: MoneySchema,
  balance: MoneySchema,
  overdue: Type.Optional(MoneySchema),
  reviewedAt: Type.Optional(TimestampSchema),
});
export type CreditStatus = Static<typeof CreditStatusSchema>;

export const CreditHoldSchema = entitySchema('creditHold', 'CreditHold', {
  customerId: idSchema('customer'),
  orderId: Type.Optional(idSchema('order')),
  reason: Type.String({ minLength: 1 }),
  active: Type.Boolean({ description: 'False once released' }),
  placedAt: TimestampSchema,
  releasedAt: Type.Optional(TimestampSchema),
  releasedBy: Type.Optional(Type.String()),
});
export type CreditHold = Static<typeof CreditHoldSchema>;
