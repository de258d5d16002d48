// Configuration of connected systems, journeys, their field mappings and field ownership: the TypeBox
// schema fragment the config part merges into the root schema (keys `systems`, `journeys`, `mappings`,
// `ownership`). Secrets are written as `${env:NAME}` references, resolved by the config loader.
import { Type, type Static } from '@sinclair/typebox';

/** Marks a key secret for the config loader (never printed, scrubbed from logs); see src/config/schema.ts. */
const SECRET = { 'x-secret': true } as const;

const SystemName = Type.String({
  pattern: '^[a-z][a-z0-9-]{0,39}$',
  description: 'Name of a connected system, also its webhook path `/hooks/{name}`, e.g. `erp`.',
});

export const SystemConfigSchema = Type.Object(
  {
    connector: Type.Union(
      [
        Type.Literal('sandbox-erp'),
        Type.Literal('sandbox-helpdesk'),
        Type.Literal('tryton'),
        Type.Literal('request-tracker'),
      ],
      {
        description:
          'Connector type: `sandbox-erp`, `tryton` (ERPs), `sandbox-helpdesk`, `request-tracker` (helpdesks).',
      },
    ),
    baseUrl: Type.String({
      description:
        "Base URL of the system: `http://127.0.0.1:7401` (sandbox), Tryton's JSON-RPC URL with the database, `http://127.0.0.1:8000/tryton/`, RT's REST 2.0 URL, `http://127.0.0.1:8010/REST/2.0`.",
    }),
    apiKey: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "API key of a sandbox system, or the auth token of Request Tracker's integration user, e.g. `${env:RT_TOKEN}` (required for those connectors).",
        ...SECRET,
      }),
    ),
    user: Type.Optional(
      Type.String({ minLength: 1, description: 'Tryton: the integration user (required for `tryton`).' }),
    ),
    password: Type.Optional(
      Type.String({
        minLength: 1,
        description: "Tryton: the integration user's password, e.g. `${env:TRYTON_PASSWORD}`.",
        ...SECRET,
      }),
    ),
    timezone: Type.Optional(
      Type.String({
        description:
          'Request Tracker: IANA time zone in which RT reads TicketSQL dates for the integration user (default `UTC`; checked at start).',
      }),
    ),
    queues: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: 'Request Tracker: queues captured and written (default `["General"]`).',
      }),
    ),
    customFields: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          'Request Tracker: ticket custom fields Crossdock may write (default `["ERP Order", "ERP Customer"]`).',
      }),
    ),
    maxInFlight: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Requests in flight at once (default: the connector’s, 4 Tryton / 2 Request Tracker).',
      }),
    ),
    overlapMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'Tryton and Request Tracker: how far before the newest change seen each poll pass starts again, in ms (default 120000 Tryton, 30000 RT).',
      }),
    ),
    webhookSecret: Type.Optional(
      Type.String({
        description:
          '`whsec_...` secret of the webhook subscription pointing at `/hooks/{name}`; without it the system is polled only.',
        ...SECRET,
      }),
    ),
    pollIntervalMs: Type.Optional(
      Type.Integer({
        minimum: 100,
        description: 'Pause between polls of a caught-up stream, in ms (default 2000).',
      }),
    ),
    ratePerSecond: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description:
          'Requests per second Crossdock sends (default: the connector’s, 50 sandbox ERP / 20 sandbox helpdesk / 20 Tryton / 8 Request Tracker).',
      }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Per-request timeout in ms (default 10000).' }),
    ),
  },
  { additionalProperties: false },
);
export type SystemConfig = Static<typeof SystemConfigSchema>;

export const OrderVisibilityConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Run the journey (default true).' }),
    erp: SystemName,
    helpdesk: SystemName,
    tenant: Type.Optional(
      Type.String({ description: 'Tenant the records belong to (default: the first configured tenant).' }),
    ),
    concurrency: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 64, description: 'Cases written to at once (default 8).' }),
    ),
    orderNumberPattern: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description:
          'JavaScript regular expression finding ERP order numbers in case subjects and fields (default `\\bSO-\\d{6}\\b`).',
      }),
    ),
    maxAttempts: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Attempts of one case write before it becomes a dead letter (default 8).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type OrderVisibilityConfig = Static<typeof OrderVisibilityConfigSchema>;

/** Summary values the order-visibility journey can write, and the helpdesk field each goes to. */
export const CASE_FIELD_KEYS = [
  'erp_order',
  'erp_order_status',
  'erp_customer',
  'credit_state',
  'shipment_status',
  'invoice_status',
  'tracking_number',
] as const;
export type CaseFieldKey = (typeof CASE_FIELD_KEYS)[number];

export const MappingsConfigSchema = Type.Object(
  {
    orderVisibility: Type.Optional(
      Type.Object(
        {
          caseFields: Type.Optional(
            Type.Partial(
              Type.Object(
                Object.fromEntries(
                  CASE_FIELD_KEYS.map((k) => [
                    k,
                    Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
                      description: `Helpdesk custom field that receives \`${k}\` (default: the helpdesk's, \`${k}\` on the sandbox helpdesk, see docs/journeys.md for Request Tracker; null: not written).`,
                    }),
                  ]),
                ),
                { additionalProperties: false },
              ),
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type MappingsConfig = Static<typeof MappingsConfigSchema>;

export const OwnershipConfigSchema = Type.Record(
  Type.String({ description: 'Canonical entity kind: order, shipment, invoice, credit, case, ...' }),
  Type.Object(
    {
      owner: Type.String({ description: 'System name or kind (`erp`, `helpdesk`) owning every field.' }),
      fields: Type.Optional(
        Type.Record(Type.String(), Type.String(), { description: 'Per-field owners overriding `owner`.' }),
      ),
    },
    { additionalProperties: false },
  ),
  {
    description:
      'Which system may change which canonical fields (default: the ERP owns order, shipment, invoice and credit; the helpdesk owns case).',
  },
);

/** The fragment to merge into the root config schema (all keys optional). */
export const JourneysConfigFragment = {
  systems: Type.Optional(
    Type.Record(SystemName, SystemConfigSchema, { description: 'Connected systems by name.' }),
  ),
  journeys: Type.Optional(
    Type.Object(
      { orderVisibility: Type.Optional(OrderVisibilityConfigSchema) },
      { additionalProperties: false, description: 'Journeys to run between the systems.' },
    ),
  ),
  mappings: Type.Optional(MappingsConfigSchema),
  ownership: Type.Optional(OwnershipConfigSchema),
};

/** The same fragment as a schema of its own (used to validate it alone, and by tests). */
export const JourneysConfigSchema = Type.Object(JourneysConfigFragment);
export type JourneysConfig = Static<typeof JourneysConfigSchema>;
