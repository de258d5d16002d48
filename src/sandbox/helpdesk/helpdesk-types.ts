// Records of the sandbox helpdesk, in its own vocabulary (cases, comments, custom fields).
import type { VersionedRecord } from '../record-table.ts';

export const CASE_STATUSES = ['new', 'open', 'pending', 'on_hold', 'solved', 'closed'] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];
export const CASE_PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export type CasePriority = (typeof CASE_PRIORITIES)[number];

export type CustomFieldValue = string | number | boolean | null;

export interface CustomFieldDefinition {
  key: string;
  type: 'text' | 'number' | 'checkbox' | 'dropdown';
  title: string;
  /** Allowed values of a `dropdown` field. */
  options: string[] | null;
}

export interface Case extends VersionedRecord<number> {
  subject: string;
  description: string;
  requester: { name: string; email: string };
  status: CaseStatus;
  priority: CasePriority;
  tags: string[];
  assignee: string | null;
  custom_fields: Record<string, CustomFieldValue>;
  comment_count: number;
}

export interface Comment extends VersionedRecord<number> {
  case_id: number;
  body: string;
  /** Public comments are visible to the requester; internal ones only to agents. */
  public: boolean;
  author: string;
}

export interface AuditEntry {
  seq: number;
  at: string;
  action: 'case.created' | 'case.updated' | 'comment.created' | 'custom_field.created';
  case_id: number | null;
  comment_id: number | null;
  /** Field names a case update changed. */
  changed: string[];
}
