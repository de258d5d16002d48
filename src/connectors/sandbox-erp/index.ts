// Connector for the sandbox ERP (src/sandbox/erp): capture by polling or webhooks, native idempotent writes.
export {
  SandboxErpConnector,
  sandboxErpConnectorFactory,
  SandboxErpConfigSchema,
  SANDBOX_ERP_STREAMS,
  SANDBOX_ERP_COMMANDS,
  OrderHoldArgs,
  OrderReleaseArgs,
  OrderCancelArgs,
  OrderChangeArgs,
  ReturnCreateArgs,
  InvoiceDisputeArgs,
} from './sandbox-erp-connector.ts';
export type { SandboxErpConfig } from './sandbox-erp-connector.ts';
export {
  readUpdatedSinceCursor,
  nextCursor,
  cursorQuery,
  isoMillis,
  updatedSinceStreams,
  readUpdatedSincePage,
} from './updated-since-cursor.ts';
export type { UpdatedSinceCursor, PagedAnswer, UpdatedSinceStream } from './updated-since-cursor.ts';
export { sandboxWebhookHandler, toSourceRecord } from './sandbox-webhooks.ts';
export type { SandboxRecord } from './sandbox-webhooks.ts';
export { SANDBOX_ERP_RATE_DEFAULTS } from './sandbox-erp-connector.ts';
