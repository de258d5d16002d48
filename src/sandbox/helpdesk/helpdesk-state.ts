// The sandbox helpdesk's data: cases with custom fields and statuses, internal and public
// comments, custom field definitions, and an audit of every write (so a test can count exactly
// how many comments a client posted). Like most real helpdesks it has no idempotency keys: a
// retried POST makes a second comment, which is what a client's marker search must guard against.
import type { SandboxClock } from '../clock.ts';
import { RecordTable, type RecordChange, type VersionedRecord } from '../record-table.ts';
import { SandboxHttpError } from '../sandbox-server.ts';
import type {
  AuditEntry,
  Case,
  CasePriority,
  CaseStatus,
  Comment,
  CustomFieldDefinition,
  CustomFieldValue,
} from './helpdesk-types.ts';

export const DEFAULT_CUSTOM_FIELDS: readonly CustomFieldDefinition[] = [
  { key: 'erp_order', type: 'text', title: 'ERP order number', options: null },
  { key: 'erp_order_status', type: 'text', title: 'ERP order status', options: null },
  { key: 'erp_customer', type: 'text', title: 'ERP customer', options: null },
  { key: 'shipment_status', type: 'text', title: 'Shipment status', options: null },
  { key: 'tracking_number', type: 'text', title: 'Tracking number', options: null },
  { key: 'invoice_status', type: 'text', title: 'Invoice status', options: null },
  { key: 'credit_state', type: 'text', title: 'Credit state', options: null },
  { key: 'crossdock_ref', type: 'text', title: 'Crossdock reference', options: null },
];

export interface NewCase {
  subject: string;
  description: string;
  requester: { name: string; email: string };
  priority?: CasePriority;
  tags?: string[];
  custom_fields?: Record<string, CustomFieldValue>;
}

export interface CaseChange {
  subject?: string;
  status?: CaseStatus;
  priority?: CasePriority;
  tags?: string[];
  assignee?: string | null;
  custom_fields?: Record<string, CustomFieldValue>;
}

export class HelpdeskState {
  readonly cases: RecordTable<Case, number>;
  readonly comments: RecordTable<Comment, number>;
  private readonly fields = new Map<string, CustomFieldDefinition>();
  private readonly auditLog: AuditEntry[] = [];
  private nextCaseId = 1001;
  private nextCommentId = 50001;

  constructor(
    private readonly clock: SandboxClock,
    onChange: (kind: string, record: VersionedRecord, change: RecordChange) => void = () => {},
    customFields: readonly CustomFieldDefinition[] = DEFAULT_CUSTOM_FIELDS,
  ) {
    this.cases = new RecordTable<Case, number>('case', clock, onChange);
    this.comments = new RecordTable<Comment, number>('comment', clock, onChange);
    for (const f of customFields) this.fields.set(f.key, { ...f });
  }

  customFields(): CustomFieldDefinition[] {
    return [...this.fields.values()].map((f) => ({ ...f }));
  }

  defineCustomField(def: CustomFieldDefinition): CustomFieldDefinition {
    if (!/^[a-z][a-z0-9_]*$/.test(def.key)) {
      throw new SandboxHttpError(422, 'INVALID_FIELD', 'key must be lower snake case');
    }
    if (this.fields.has(def.key))
      throw new SandboxHttpError(409, 'DUPLICATE_FIELD', `field ${def.key} exists`);
    this.fields.set(def.key, { ...def });
    this.log('custom_field.created', null, null, [def.key]);
    return { ...def };
  }

  /** Every write, oldest first. */
  audit(): AuditEntry[] {
    return this.auditLog.map((e) => ({ ...e, changed: [...e.changed] }));
  }

  private log(
    action: AuditEntry['action'],
    caseId: number | null,
    commentId: number | null,
    changed: string[],
  ): void {
    this.auditLog.push({
      seq: this.auditLog.length + 1,
      at: new Date(this.clock.nowMs()).toISOString(),
      action,
      case_id: caseId,
      comment_id: commentId,
      changed,
    });
  }

  private checkFields(values: Record<string, CustomFieldValue>): void {
    for (const [key, value] of Object.entries(values)) {
      const def = this.fields.get(key);
      if (def === undefined)
        throw new SandboxHttpError(422, 'UNKNOWN_FIELD', `custom field ${key} is not defined`);
      if (value === null) continue;
      const ok =
        def.type === 'number'
          ? typeof value === 'number'
          : def.type === 'checkbox'
            ? typeof value === 'boolean'
            : def.type === 'dropdown'
              ? typeof value === 'string' && (def.options ?? []).includes(value)
              : typeof value === 'string';
      if (!ok)
        throw new SandboxHttpError(
          422,
          'INVALID_FIELD_VALUE',
          `custom field ${key} rejects ${JSON.stringify(value)}`,
        );
    }
  }

  getCase(id: number): Case {
    const c = this.cases.get(id);
    if (c === undefined) throw new SandboxHttpError(404, 'NOT_FOUND', `case ${id} not found`);
    return c;
  }

  createCase(input: NewCase): Case {
    const fields = input.custom_fields ?? {};
    this.checkFields(fields);
    const id = this.nextCaseId++;
    const created = this.cases.insert(
      {
        subject: input.subject,
        description: input.description,
        requester: input.requester,
        status: 'new',
        priority: input.priority ?? 'normal',
        tags: input.tags ?? [],
        assignee: null,
        custom_fields: fields,
        comment_count: 0,
      },
      id,
    );
    this.log('case.created', id, null, []);
    return created;
  }

  updateCase(id: number, change: CaseChange): Case {
    this.getCase(id);
    if (change.custom_fields !== undefined) this.checkFields(change.custom_fields);
    const changed: string[] = [];
    const updated = this.cases.update(id, (c) => {
      if (change.subject !== undefined && change.subject !== c.subject) {
        c.subject = change.subject;
        changed.push('subject');
      }
      if (change.status !== undefined && change.status !== c.status) {
        c.status = change.status;
        changed.push('status');
      }
      if (change.priority !== undefined && change.priority !== c.priority) {
        c.priority = change.priority;
        changed.push('priority');
      }
      if (change.tags !== undefined) {
        c.tags = [...change.tags];
        changed.push('tags');
      }
      if (change.assignee !== undefined && change.assignee !== c.assignee) {
        c.assignee = change.assignee;
        changed.push('assignee');
      }
      for (const [key, value] of Object.entries(change.custom_fields ?? {})) {
        if (c.custom_fields[key] === value) continue;
        if (value === null) delete c.custom_fields[key];
        else c.custom_fields[key] = value;
        changed.push(`custom_fields.${key}`);
      }
    }) as Case;
    this.log('case.updated', id, null, changed);
    return updated;
  }

  addComment(caseId: number, input: { body: string; public?: boolean; author?: string }): Comment {
    const c = this.getCase(caseId);
    if (c.status === 'closed') throw new SandboxHttpError(409, 'CASE_CLOSED', `case ${caseId} is closed`);
    const id = this.nextCommentId++;
    const comment = this.comments.insert(
      { case_id: caseId, body: input.body, public: input.public ?? true, author: input.author ?? 'api' },
      id,
    );
    // A public reply from an agent moves a new case to open, as helpdesks do.
    this.cases.update(caseId, (draft) => {
      draft.comment_count += 1;
      if (draft.status === 'new' && comment.public && comment.author !== draft.requester.email)
        draft.status = 'open';
    });
    this.log('comment.created', caseId, id, []);
    return comment;
  }

  commentsOf(caseId: number): Comment[] {
    this.getCase(caseId);
    return this.comments.all((c) => c.case_id === caseId);
  }

  /** Comments whose body contains `text` (case-sensitive), optionally on one case. */
  searchComments(text: string, caseId?: number): Comment[] {
    return this.comments.all((c) => c.body.includes(text) && (caseId === undefined || c.case_id === caseId));
  }
}
