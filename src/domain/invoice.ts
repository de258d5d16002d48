// Invoice: what the customer owes for an order and how much is still due.
import { Type, type Static } from '@sinclair/typebox';
import { DateSchema, entitySchema, idSchema, TimestampSchema } from './common.ts';
import { MoneySchema } from './money.ts';
import { INVOICE_STATES, stateSchema } from './states.ts';

export const InvoiceSchema = entitySchema('invoice', 'Invoice', {
  number: Type.String({ minLength: 1 }),
  customerId: idSchema('customer'),
  orderId: Type.Optional(idSchema('order')),
  status: stateSchema(INVOICE_STATES, 'See docs/states.md#invoice'),
  total: MoneySchema,
  amountDue: MoneySchema,
  issuedAt: Type.Optional(TimestampSchema),
  dueDate: Type.Optional(DateSchema),
});
export type Invoice = Static<typeof InvoiceSchema>;
