// Shipment, ShipmentLine and TrackingEvent: what left the warehouse, with which carrier, and where it is.
import { Type, type Static } from '@sinclair/typebox';
import { entitySchema, idSchema, TimestampSchema } from './common.ts';
import { AddressValueSchema } from './customer.ts';
import { DecimalSchema } from './money.ts';
import { SHIPMENT_STATES, stateSchema } from './states.ts';

export const ShipmentLineSchema = Type.Object(
  {
    id: idSchema('shipmentLine'),
    orderLineId: Type.Optional(idSchema('orderLine')),
    itemId: Type.Optional(idSchema('item')),
    sku: Type.String(),
    quantity: DecimalSchema,
  },
  { additionalProperties: false, title: 'ShipmentLine' },
);
export type ShipmentLine = Static<typeof ShipmentLineSchema>;

export const ShipmentSchema = entitySchema('shipment', 'Shipment', {
  orderId: idSchema('order'),
  status: stateSchema(SHIPMENT_STATES, 'See docs/states.md#shipment'),
  carrier: Type.Optional(Type.String()),
  trackingNumber: Type.Optional(Type.String()),
  lines: Type.Array(ShipmentLineSchema),
  shipTo: Type.Optional(AddressValueSchema),
  shippedAt: Type.Optional(TimestampSchema),
  estimatedDeliveryAt: Type.Optional(TimestampSchema),
  deliveredAt: Type.Optional(TimestampSchema),
});
export type Shipment = Static<typeof ShipmentSchema>;

export const TRACKING_CODES = [
  'info',
  'picked_up',
  'in_transit',
  'out_for_delivery',
  'delivered',
  'delay',
  'exception',
  'returned',
] as const;
export type TrackingCode = (typeof TRACKING_CODES)[number];

export const TrackingEventSchema = entitySchema('trackingEvent', 'TrackingEvent', {
  shipmentId: idSchema('shipment'),
  occurredAt: TimestampSchema,
  code: Type.Union(
    TRACKING_CODES.map((c) => Type.Literal(c)),
    { description: "Carrier's status normalised" },
  ),
  carrierCode: Type.Optional(Type.String({ description: "The carrier's own status code" })),
  description: Type.String(),
  location: Type.Optional(Type.String()),
});
export type TrackingEvent = Static<typeof TrackingEventSchema>;
