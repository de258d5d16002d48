// Makes business data in a real Tryton through JSON-RPC, the way a user of the ERP would: parties,
// products, sales taken through quote and confirm (which create the shipment and invoice), shipments
// shipped, invoices posted. Tests use it to produce changes the connector must capture.
import { HttpClient } from '../../../src/connectors/http/index.ts';
import { TrytonRpc, date, decimal } from '../../../src/connectors/tryton/index.ts';

export class TrytonFixture {
  readonly rpc: TrytonRpc;
  private readonly http: HttpClient;
  private seq = 0;
  private product: Promise<number> | undefined;
  private readonly tag = Date.now().toString(36);

  constructor(readonly env: Record<string, string>) {
    this.http = new HttpClient({
      system: 'tryton-fixture',
      baseUrl: env.TRYTON_RPC_URL!,
      circuit: false,
      timeoutMs: 30_000,
    });
    this.rpc = new TrytonRpc({
      http: this.http,
      user: env.TRYTON_USER ?? 'admin',
      password: env.TRYTON_PASSWORD ?? 'admin',
    });
  }

  async party(
    name = `Customer ${this.tag}-${++this.seq}`,
    email?: string,
  ): Promise<{ party: number; address: number }> {
    const mail = email ?? `c-${this.tag}-${this.seq}@example.test`;
    const [party] = await this.rpc.model<number[]>('party.party', 'create', [
      [
        {
          name,
          contact_mechanisms: [['create', [{ type: 'email', value: mail }]]],
          addresses: [['create', [{ street: '1 Main St', postal_code: '12345', city: 'Springfield' }]]],
        },
      ],
    ]);
    const [address] = await this.rpc.model<number[]>('party.address', 'search', [
      [['party', '=', party]],
      0,
      1,
      null,
    ]);
    return { party: party!, address: address! };
  }

  productId(): Promise<number> {
    this.product ??= (async () => {
      const [template] = await this.rpc.model<number[]>('product.template', 'create', [
        [
          {
            name: `Widget ${this.tag}`,
            code: `W-${this.tag}`,
            type: 'goods',
            default_uom: 1,
            list_price: decimal('10.00'),
            salable: true,
            sale_uom: 1,
            account_category: Number(this.env.TRYTON_PRODUCT_CATEGORY_ID ?? 1),
            products: [['create', [{ cost_price: decimal('4.00') }]]],
          },
        ],
      ]);
      const [product] = await this.rpc.model<number[]>('product.product', 'search', [
        [['template', '=', template]],
        0,
        1,
        null,
      ]);
      return product!;
    })();
    return this.product;
  }

  /** A draft sale of two widgets at `unitPrice`. */
  async sale(
    options: { unitPrice?: string; saleDate?: string; party?: { party: number; address: number } } = {},
  ) {
    const customer = options.party ?? (await this.party());
    const product = await this.productId();
    const context = await this.rpc.context();
    const [sale] = await this.rpc.model<number[]>('sale.sale', 'create', [
      [
        {
          company: context.company,
          party: customer.party,
          invoice_address: customer.address,
          shipment_address: customer.address,
          reference: `EXT-${this.tag}-${++this.seq}`,
          ...(options.saleDate ? { sale_date: date(options.saleDate) } : {}),
          lines: [
            [
              'create',
              [
                {
                  type: 'line',
                  product,
                  quantity: 2,
                  unit: 1,
                  unit_price: decimal(options.unitPrice ?? '10.00'),
                  description: 'Widget',
                },
              ],
            ],
          ],
        },
      ],
    ]);
    return { sale: sale!, ...customer };
  }

  /** Quotes and confirms a sale: Tryton then creates its customer shipment and draft invoice. */
  async confirm(sale: number): Promise<{ shipments: number[]; invoices: number[]; lines: number[] }> {
    await this.rpc.model('sale.sale', 'quote', [[sale]]);
    await this.rpc.model('sale.sale', 'confirm', [[sale]]);
    const [row] = await this.rpc.model<{ shipments: number[]; invoices: number[]; lines: number[] }[]>(
      'sale.sale',
      'read',
      [[sale], ['shipments', 'invoices', 'lines']],
    );
    return row!;
  }

  async ship(shipment: number): Promise<void> {
    await this.rpc.model('stock.shipment.out', 'assign_force', [[shipment]]);
    for (const step of ['pick', 'pack', 'done'])
      await this.rpc.model('stock.shipment.out', step, [[shipment]]);
  }

  async post(invoice: number): Promise<void> {
    await this.rpc.model('account.invoice', 'post', [[invoice]]);
  }

  /** A complaint made directly in Tryton (as a user would), on a sale, left in draft. */
  async complaint(sale: number, party: number): Promise<number> {
    const [type] = await this.rpc.model<number[]>('sale.complaint.type', 'search', [
      [['origin.model', '=', 'sale.sale']],
      0,
      1,
      null,
    ]);
    const context = await this.rpc.context();
    const [id] = await this.rpc.model<number[]>('sale.complaint', 'create', [
      [
        {
          customer: party,
          company: context.company,
          type,
          origin: `sale.sale,${sale}`,
          description: 'made by a user',
          actions: [['create', [{ action: 'sale_return' }]]],
        },
      ],
    ]);
    return id!;
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}
