// Money is exact: the amount is a decimal string (`"1234.50"`) with an ISO 4217 currency, never a
// float. Decimal strings keep every currency's precision (JPY 0, EUR 2, KWD 3 decimals, unit prices
// with 4+) and match how ERPs expose amounts; arithmetic here is scaled BigInt, so nothing rounds.
import { Type, type Static } from '@sinclair/typebox';
import { MoneyInvalidError } from './errors.ts';

export const DECIMAL_PATTERN = '^-?(0|[1-9][0-9]*)(\\.[0-9]+)?$';
const DECIMAL = new RegExp(DECIMAL_PATTERN);
const CURRENCY = /^[A-Z]{3}$/;

/** A decimal number as a string: `"12"`, `"12.50"`, `"-0.125"`. Used for money and quantities. */
export const DecimalSchema = Type.String({
  pattern: DECIMAL_PATTERN,
  description: 'Exact decimal as a string',
});
export type Decimal = Static<typeof DecimalSchema>;

export const MoneySchema = Type.Object(
  {
    amount: DecimalSchema,
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' }),
  },
  { additionalProperties: false, description: 'Exact amount with its currency' },
);
export type Money = Static<typeof MoneySchema>;

interface Scaled {
  readonly units: bigint;
  readonly scale: number;
}

function parse(amount: string): Scaled {
  if (!DECIMAL.test(amount)) throw new MoneyInvalidError(`not a decimal amount: ${JSON.stringify(amount)}`);
  const negative = amount.startsWith('-');
  const [whole, fraction = ''] = (negative ? amount.slice(1) : amount).split('.') as [string, string?];
  const units = BigInt(whole + fraction) * (negative ? -1n : 1n);
  return { units, scale: fraction.length };
}

function rescale(value: Scaled, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale);
}

function format(units: bigint, scale: number): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale > 0 ? `.${digits.slice(digits.length - scale)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

/** Builds a Money value, checking the amount and currency. */
export function money(amount: string, currency: string): Money {
  parse(amount);
  if (!CURRENCY.test(currency))
    throw new MoneyInvalidError(`not an ISO 4217 currency: ${JSON.stringify(currency)}`);
  return { amount, currency };
}

function sameCurrency(a: Money, b: Money): void {
  if (a.currency !== b.currency)
    throw new MoneyInvalidError(`cannot combine ${a.currency} and ${b.currency}`);
}

export function addMoney(a: Money, b: Money): Money {
  sameCurrency(a, b);
  const x = parse(a.amount);
  const y = parse(b.amount);
  const scale = Math.max(x.scale, y.scale);
  return { amount: format(rescale(x, scale) + rescale(y, scale), scale), currency: a.currency };
}

export function subtractMoney(a: Money, b: Money): Money {
  return addMoney(a, { amount: negate(b.amount), currency: b.currency });
}

function negate(amount: string): string {
  return amount.startsWith('-') ? amount.slice(1) : amount === '0' ? amount : `-${amount}`;
}

/** Exact product of a money amount and a decimal quantity (`unitPrice * quantity`). */
export function multiplyMoney(a: Money, quantity: string): Money {
  const x = parse(a.amount);
  const q = parse(quantity);
  return { amount: format(x.units * q.units, x.scale + q.scale), currency: a.currency };
}

/** -1, 0 or 1; throws on different currencies. `"1.50"` equals `"1.5"`. */
export function compareMoney(a: Money, b: Money): -1 | 0 | 1 {
  sameCurrency(a, b);
  const x = parse(a.amount);
  const y = parse(b.amount);
  const scale = Math.max(x.scale, y.scale);
  const d = rescale(x, scale) - rescale(y, scale);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** Sum of amounts in one currency; `currency` is used when the list is empty. */
export function sumMoney(values: readonly Money[], currency: string): Money {
  return values.reduce((acc, v) => addMoney(acc, v), money('0', currency));
}
