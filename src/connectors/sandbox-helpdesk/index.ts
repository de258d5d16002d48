// Connector for the sandbox helpdesk (src/sandbox/helpdesk): capture of cases and comments, marker-
// based comment and case writes, natural field updates.
export {
  SandboxHelpdeskConnector,
  sandboxHelpdeskConnectorFactory,
  SandboxHelpdeskConfigSchema,
  SANDBOX_HELPDESK_COMMANDS,
  CaseCommentArgs,
  CaseCreateArgs,
  CaseUpdateArgs,
} from './sandbox-helpdesk-connector.ts';
export type {
  SandboxHelpdeskConfig,
  CaseComment,
  CaseCreate,
  CaseUpdate,
} from './sandbox-helpdesk-connector.ts';
export { SANDBOX_HELPDESK_RATE_DEFAULTS } from './sandbox-helpdesk-connector.ts';
