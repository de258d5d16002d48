// Customer and Address: who buys, and where things are billed and shipped.
import { Type, type Static } from '@sinclair/typebox';
import { entitySchema, idSchema } from './common.ts';

/** An address as a value (copied onto orders and shipments as it was at the time). */
export const AddressValueSchema = Type.Object(
  {
    name: Type.Optional(Type.String()),
    lines: Type.Array(Type.String(), { minItems: 1, description: 'Street lines, in order' }),
    city: Type.String(),
    region: Type.Optional(Type.String({ description: 'State, province or county' })),
    postalCode: Type.Optional(Type.String()),
    country: Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' }),
  },
  { additionalProperties: false },
);
export type AddressValue = Static<typeof AddressValueSchema>;

export const CustomerSchema = entitySchema('customer', 'Customer', {
  name: Type.String({ minLength: 1 }),
  email: Type.Optional(Type.String()),
  phone: Type.Optional(Type.String()),
  active: Type.Boolean(),
  currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$', description: 'Default currency, ISO 4217' })),
  defaultBillingAddressId: Type.Optional(idSchema('address')),
  defaultShippingAddressId: Type.Optional(idSchema('address')),
});
export type Customer = Static<typeof CustomerSchema>;

export const AddressSchema = entitySchema('address', 'Address', {
  customerId: idSchema('customer'),
  purpose: Type.Union([Type.Literal('billing'), Type.Literal('shipping'), Type.Literal('other')]),
  address: AddressValueSchema,
});
export type Address = Static<typeof AddressSchema>;
