// Case and CaseMilestone: a customer-service case in the helpdesk and its SLA milestones.
import { Type, type Static } from '@sinclair/typebox';
import { entitySchema, idSchema, TimestampSchema } from './common.ts';
import { CASE_STATES, stateSchema } from './states.ts';

export const CASE_PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export type CasePriority = (typeof CASE_PRIORITIES)[number];

export const CaseSchema = entitySchema('case', 'Case', {
  number: Type.Optional(Type.String({ description: 'Ticket number people use' })),
  subject: Type.String({ minLength: 1 }),
  customerId: Type.Optional(idSchema('customer')),
  orderId: Type.Optional(idSchema('order')),
  status: stateSchema(CASE_STATES, 'See docs/states.md#case'),
  priority: Type.Union(CASE_PRIORITIES.map((p) => Type.Literal(p))),
  queue: Type.Optional(Type.String({ description: 'Helpdesk queue or team' })),
  openedAt: TimestampSchema,
  resolvedAt: Type.Optional(TimestampSchema),
});
export type Case = Static<typeof CaseSchema>;

export const CaseMilestoneSchema = entitySchema('caseMilestone', 'CaseMilestone', {
  caseId: idSchema('case'),
  name: Type.String({ minLength: 1, description: 'e.g. `first_response`, `resolution`' }),
  dueAt: TimestampSchema,
  achievedAt: Type.Optional(TimestampSchema),
  breached: Type.Boolean(),
});
export type CaseMilestone = Static<typeof CaseMilestoneSchema>;
