// Money is exact decimal with a currency: no float drift, no silent currency mixing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addMoney,
  compareMoney,
  money,
  multiplyMoney,
  subtractMoney,
  sumMoney,
} from '../../src/domain/index.ts';

describe('money', () => {
  it('adds exactly where floats drift', () => {
    expect(addMoney(money('0.1', 'USD'), money('0.2', 'USD'))).toEqual({ amount: '0.3', currency: 'USD' });
    expect(sumMoney([money('19.99', 'EUR'), money('0.01', 'EUR'), money('-5', 'EUR')], 'EUR')).toEqual({
      amount: '15.00',
      currency: 'EUR',
    });
    expect(subtractMoney(money('1', 'JPY'), money('3', 'JPY'))).toEqual({ amount: '-2', currency: 'JPY' });
  });

  it('multiplies a unit price by a decimal quantity exactly', () => {
    expect(multiplyMoney(money('0.125', 'USD'), '100')).toEqual({ amount: '12.500', currency: 'USD' });
    expect(multiplyMoney(money('19.99', 'USD'), '2.5')).toEqual({ amount: '49.975', currency: 'USD' });
    expect(multiplyMoney(money('-1.5', 'USD'), '3')).toEqual({ amount: '-4.5', currency: 'USD' });
  });

  it('compares across scales and refuses mixed currencies', () => {
    expect(compareMoney(money('1.50', 'USD'), money('1.5', 'USD'))).toBe(0);
    expect(compareMoney(money('1.49', 'USD'), money('1.5', 'USD'))).toBe(-1);
    expect(() => addMoney(money('1', 'USD'), money('1', 'EUR'))).toThrow(
      expect.objectContaining({ code: 'MONEY_INVALID' }) as Error,
    );
  });

  it('refuses amounts that are not plain decimals and currencies that are not ISO codes', () => {
    for (const bad of ['1e3', '1.', '.5', '01', '1,5', 'NaN', '']) {
      expect(() => money(bad, 'USD')).toThrow(expect.objectContaining({ code: 'MONEY_INVALID' }) as Error);
    }
    expect(() => money('1', 'usd')).toThrow(expect.objectContaining({ code: 'MONEY_INVALID' }) as Error);
  });

  it('a + b - b == a for any amounts (property)', () => {
    const amount = fc
      .tuple(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.integer({ min: 0, max: 6 }))
      .map(([units, scale]) => {
        const negative = units < 0n;
        const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
        const s = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
        return negative && units !== 0n ? `-${s}` : s;
      });
    fc.assert(
      fc.property(amount, amount, (a, b) => {
        const x = money(a, 'USD');
        const back = subtractMoney(addMoney(x, money(b, 'USD')), money(b, 'USD'));
        expect(compareMoney(back, x)).toBe(0);
      }),
    );
  });
});
