// Failures of the canonical model: an illegal state transition and malformed money. Pure values, no I/O.
import { CrossdockError, defineError } from '../errors/index.ts';

export const IllegalTransitionDef = defineError({
  code: 'ILLEGAL_TRANSITION',
  status: 409,
  retryable: false,
  title: 'State transition not allowed',
  description:
    'The change would move an entity from one state to another that its state vocabulary does not allow (for example an order from `cancelled` to `shipped`). docs/states.md lists every state and its allowed next states. If a source system really did this, the mapping is wrong or an event was missed; reconcile the entity instead.',
});
export class IllegalTransitionError extends CrossdockError {
  constructor(
    readonly machine: string,
    readonly from: string,
    readonly to: string,
    readonly allowed: readonly string[],
  ) {
    super(
      IllegalTransitionDef,
      `${machine} cannot go from ${from} to ${to} (allowed: ${allowed.length === 0 ? 'none, it is final' : allowed.join(', ')})`,
      { machine, from, to, allowed },
    );
  }
}

export const MoneyInvalidDef = defineError({
  code: 'MONEY_INVALID',
  status: 400,
  retryable: false,
  title: 'Invalid money value',
  description:
    'A money amount is not a plain decimal string (`"12.50"`, `"-3"`), or its currency is not a three-letter ISO 4217 code, or two amounts in different currencies were combined.',
});
export class MoneyInvalidError extends CrossdockError {
  constructor(reason: string) {
    super(MoneyInvalidDef, reason, { reason });
  }
}
