// Marks the code running inside a store transaction, so that the rule "a transaction awaits nothing
// but its own queries" is enforced rather than hoped for. Two guards share the marker:
// - `assertNotInTransaction(what)`: network clients (connectors' HTTP client, NATS bridge) call it
//   before any I/O and get a typed STORE_IO_IN_TRANSACTION error when called from a transaction;
// - a watch on Node's diagnostics channels (outgoing sockets, undici/fetch and node:http requests):
//   any network call started inside a transaction, even by code that forgot to assert, marks the
//   transaction, which is then rolled back with the same error when its callback returns.
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import { StoreIoInTransactionError } from './errors.ts';

export interface TxMarker {
  /** Identity of the store whose transaction this is. */
  readonly storeId: number;
  /** `transaction` or `durable`. */
  readonly kind: 'transaction' | 'durable';
  /** First network call seen inside this transaction, if any. */
  violation: string | undefined;
  /** False once the callback has returned: continuations left behind no longer count. */
  active: boolean;
}

export const txContext = new AsyncLocalStorage<TxMarker>();

/** The marker of the transaction the caller runs in, if any (and still running). */
export function currentTx(): TxMarker | undefined {
  const marker = txContext.getStore();
  return marker?.active === true ? marker : undefined;
}

/** True when called (directly or through awaits) from inside a store transaction callback. */
export function isInTransaction(): boolean {
  return currentTx() !== undefined;
}

/**
 * Throws STORE_IO_IN_TRANSACTION when called from inside a store transaction. Clients that talk to
 * the network call it first thing, with a short description (`'HTTP POST tryton /model/sale.sale'`).
 */
export function assertNotInTransaction(what: string): void {
  const marker = currentTx();
  if (marker === undefined) return;
  marker.violation ??= what;
  throw new StoreIoInTransactionError(what);
}

function flag(what: () => string): void {
  const marker = currentTx();
  if (marker !== undefined) marker.violation ??= what();
}

let watching = false;

/** Subscribes once per process to the diagnostics channels that announce outgoing network calls. */
export function watchNetworkInTransactions(): void {
  if (watching) return;
  watching = true;
  diagnosticsChannel.subscribe('net.client.socket', () => flag(() => 'outgoing socket connection'));
  diagnosticsChannel.subscribe('undici:request:create', (message) => {
    flag(() => {
      const request = (message as { request?: { method?: string; origin?: string | URL; path?: string } })
        .request;
      return `HTTP ${request?.method ?? ''} ${request?.origin?.toString() ?? ''}${request?.path ?? ''}`.trim();
    });
  });
  diagnosticsChannel.subscribe('http.client.request.start', (message) => {
    flag(() => {
      const request = (message as { request?: { method?: string; host?: string; path?: string } }).request;
      return `HTTP ${request?.method ?? ''} ${request?.host ?? ''}${request?.path ?? ''}`.trim();
    });
  });
}
