// What Crossdock captures from Tryton: one stream per model, the fields read, and the canonical
// entity each maps to. Capture polls by `write_date`, falling back to `create_date` for records never
// written since creation (Tryton leaves `write_date` empty until the first write).

export interface TrytonStreamSpec {
  /** Tryton model, also the stream name. */
  readonly name: string;
  /** Canonical entity kind (`EntityKind` of src/domain); sale lines belong to their order. */
  readonly entity: string;
  /** Fields read for each record (`id`, `create_date`, `write_date` are always added). */
  readonly fields: readonly string[];
  /** Extra domain clauses ANDed to every poll, e.g. only customer invoices. */
  readonly domain: readonly unknown[];
  readonly description: string;
}

export const TRYTON_STREAMS: readonly TrytonStreamSpec[] = [
  {
    name: 'sale.sale',
    entity: 'order',
    fields: [
      'number',
      'reference',
      'description',
      'comment',
      'state',
      'shipment_state',
      'invoice_state',
      'party',
      'party.code',
      'invoice_address',
      'shipment_address',
      'sale_date',
      'currency',
      'currency.code',
      'untaxed_amount',
      'tax_amount',
      'total_amount',
      'lines',
      'shipments',
      'shipment_returns',
      'invoices',
      'origin',
      'company',
    ],
    domain: [],
    description:
      'Sales (orders): header, states, totals, and the ids of their lines, shipments and invoices.',
  },
  {
    name: 'sale.line',
    entity: 'order',
    fields: [
      'sale',
      'type',
      'sequence',
      'product',
      'product.code',
      'description',
      'quantity',
      'unit',
      'unit_price',
      'amount',
      'currency.code',
    ],
    domain: [],
    description: 'Sale lines: product, quantity, unit price, amount.',
  },
  {
    name: 'stock.shipment.out',
    entity: 'shipment',
    fields: [
      'number',
      'reference',
      'state',
      'customer',
      'delivery_address',
      'planned_date',
      'effective_date',
      'carrier',
      'origins',
      'outgoing_moves',
    ],
    domain: [],
    description: 'Customer shipments: state (waiting to done), planned and effective dates, carrier.',
  },
  {
    name: 'account.invoice',
    entity: 'invoice',
    fields: [
      'number',
      'reference',
      'type',
      'state',
      'party',
      'invoice_date',
      'currency',
      'currency.code',
      'untaxed_amount',
      'tax_amount',
      'total_amount',
      'amount_to_pay',
      'sales',
      'origins',
    ],
    domain: [['type', '=', 'out']],
    description: 'Customer invoices and credit notes (type `out`; a credit note has a negative total).',
  },
  {
    name: 'party.party',
    entity: 'customer',
    fields: ['code', 'name', 'email', 'phone', 'addresses', 'active'],
    domain: [],
    description: 'Parties (customers): code, name, e-mail, phone.',
  },
  {
    name: 'sale.complaint',
    entity: 'returnAuthorization',
    fields: [
      'number',
      'reference',
      'state',
      'customer',
      'address',
      'type',
      'origin',
      'description',
      'date',
      'actions',
    ],
    domain: [],
    description:
      'Complaints: state, origin (sale, sale line or invoice) and actions; each record carries `actions_detail` (action and its result, e.g. the return sale or credit note).',
  },
];

export function streamSpec(name: string): TrytonStreamSpec | undefined {
  return TRYTON_STREAMS.find((s) => s.name === name);
}
