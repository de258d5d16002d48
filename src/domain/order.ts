// Order and OrderLine: what a customer ordered, its state, and its money.
import { Type, type Static } from '@sinclair/typebox';
import { DateSchema, entitySchema, idSchema, TimestampSchema } from './common.ts';
import { AddressValueSchema } from './customer.ts';
import { DecimalSchema, MoneySchema } from './money.ts';
import { ORDER_STATES, stateSchema } from './states.ts';

export const OrderLineSchema = Type.Object(
  {
    id: idSchema('orderLine'),
    lineNumber: Type.Integer({ minimum: 1 }),
    itemId: Type.Optional(idSchema('item')),
    sku: Type.String(),
    description: Type.Optional(Type.String()),
    quantity: DecimalSchema,
    unitPrice: MoneySchema,
    lineTotal: MoneySchema,
  },
  { additionalProperties: false, title: 'OrderLine' },
);
export type OrderLine = Static<typeof OrderLineSchema>;

export const OrderSchema = entitySchema('order', 'Order', {
  number: Type.String({ minLength: 1, description: 'Number people use (the ERP order number)' }),
  customerId: idSchema('customer'),
  status: stateSchema(ORDER_STATES, 'See docs/states.md#order'),
  currency: Type.String({ pattern: '^[A-Z]{3}$' }),
  lines: Type.Array(OrderLineSchema),
  total: MoneySchema,
  shippingAddress: Type.Optional(AddressValueSchema),
  orderedAt: TimestampSchema,
  requestedDeliveryDate: Type.Optional(DateSchema),
});
export type Order = Static<typeof OrderSchema>;
