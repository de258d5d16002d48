// Item, Price and InventoryPosition: what is sold, for how much, and how many are where.
import { Type, type Static } from '@sinclair/typebox';
import { DateSchema, entitySchema, idSchema, TimestampSchema } from './common.ts';
import { DecimalSchema, MoneySchema } from './money.ts';

export const ItemSchema = entitySchema('item', 'Item', {
  sku: Type.String({ minLength: 1 }),
  name: Type.String({ minLength: 1 }),
  description: Type.Optional(Type.String()),
  unit: Type.String({ minLength: 1, description: 'Unit of measure, e.g. `each`, `kg`' }),
  active: Type.Boolean(),
});
export type Item = Static<typeof ItemSchema>;

export const PriceSchema = entitySchema('price', 'Price', {
  itemId: idSchema('item'),
  unitPrice: MoneySchema,
  minQuantity: Type.Optional(DecimalSchema),
  customerId: Type.Optional(idSchema('customer', 'Set for a customer-specific price')),
  validFrom: Type.Optional(DateSchema),
  validTo: Type.Optional(DateSchema),
});
export type Price = Static<typeof PriceSchema>;

export const InventoryPositionSchema = entitySchema('inventoryPosition', 'InventoryPosition', {
  itemId: idSchema('item'),
  location: Type.String({ minLength: 1, description: 'Warehouse or location code' }),
  onHand: DecimalSchema,
  allocated: DecimalSchema,
  available: DecimalSchema,
  asOf: TimestampSchema,
});
export type InventoryPosition = Static<typeof InventoryPositionSchema>;
