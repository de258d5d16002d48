// The six state vocabularies: listed transitions are allowed, everything else is a typed
// ILLEGAL_TRANSITION, final states go nowhere, and docs/states.md explains every state.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  IllegalTransitionError,
  STATE_MACHINES,
  allowedTransitions,
  assertTransition,
  canTransition,
  type StateMachineName,
} from '../../src/domain/index.ts';

const machines = Object.keys(STATE_MACHINES) as StateMachineName[];

describe.each(machines)('%s states', (machine) => {
  const { states, transitions } = STATE_MACHINES[machine];

  it('allows exactly the listed transitions (and staying put)', () => {
    for (const from of states) {
      for (const to of states) {
        const listed = (transitions as Record<string, readonly string[]>)[from]!.includes(to);
        expect(canTransition(machine, from, to), `${from} -> ${to}`).toBe(listed || from === to);
        if (listed || from === to) expect(() => assertTransition(machine, from, to)).not.toThrow();
        else expect(() => assertTransition(machine, from, to)).toThrow(IllegalTransitionError);
      }
    }
  });

  it('lists only known states and reaches every state from the first one', () => {
    const reachable = new Set<string>([states[0]]);
    const queue: string[] = [states[0]];
    while (queue.length > 0) {
      for (const next of allowedTransitions(machine, queue.shift()!)) {
        expect(states as readonly string[]).toContain(next);
        if (!reachable.has(next)) {
          reachable.add(next);
          queue.push(next);
        }
      }
    }
    expect([...reachable].sort()).toEqual([...states].sort());
  });

  it('is documented state by state in docs/states.md', () => {
    const doc = fs.readFileSync(path.join(import.meta.dirname, '..', '..', 'docs', 'states.md'), 'utf8');
    const section = doc
      .split(/^## /m)
      .find((s) => s.startsWith(`${machine}\n`) || s.startsWith(`${machine} `));
    expect(section, `docs/states.md needs a "## ${machine}" section`).toBeDefined();
    for (const state of states) expect(section).toContain(`\`${state}\``);
  });
});

describe('illegal transitions', () => {
  it('carry a typed error with the machine, both states and what was allowed', () => {
    try {
      assertTransition('order', 'cancelled', 'shipped');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(IllegalTransitionError);
      expect(error).toMatchObject({
        code: 'ILLEGAL_TRANSITION',
        status: 409,
        retryable: false,
        machine: 'order',
        from: 'cancelled',
        to: 'shipped',
        allowed: [],
      });
    }
    expect(() => assertTransition('case', 'open', 'teleported')).toThrow(IllegalTransitionError);
  });
});
