// Rate budgets per target system: the interface callers draw on and the priority queue every
// implementation shares. Implementations live with their owners (connectors/http: in-process token
// bucket; workflow: the store-backed budget shared by every process).
export { PRIORITIES, abortReason } from './rate-budget.ts';
export type { Priority, RateBudget, Release } from './rate-budget.ts';
export { PriorityWaiters } from './priority-waiters.ts';
export type { PriorityWaitersOptions } from './priority-waiters.ts';
