// Tables of the workflow runtime (ids 0100-0199): runs, their searchable business keys, the step journal
// and the attempt history. Times are epoch milliseconds; JSON values are stored as text on both dialects
// so the code that reads them is one code path.
import type { Migration } from '../store/index.ts';

const runsSqlite = `
CREATE TABLE wf_runs (
  run_id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  workflow_name TEXT NOT NULL,
  workflow_version INTEGER NOT NULL,
  status TEXT NOT NULL,
  input TEXT,
  output TEXT,
  error TEXT,
  business_keys TEXT NOT NULL,
  owner TEXT,
  lease_epoch INTEGER NOT NULL,
  lease_expires_at INTEGER,
  recovery_count INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  completed_at INTEGER
) WITHOUT ROWID;
CREATE INDEX wf_runs_active ON wf_runs (status) WHERE status IN ('pending', 'running');
CREATE INDEX wf_runs_tenant_created ON wf_runs (tenant_id, created_at);
CREATE TABLE wf_run_keys (
  run_id TEXT NOT NULL,
  key_name TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  key_value TEXT NOT NULL,
  PRIMARY KEY (run_id, key_name)
) WITHOUT ROWID;
CREATE INDEX wf_run_keys_lookup ON wf_run_keys (tenant_id, key_name, key_value);
CREATE TABLE wf_steps (
  run_id TEXT NOT NULL,
  step_id INTEGER NOT NULL,
  tenant_id TEXT NOT NULL,
  step_name TEXT NOT NULL,
  status TEXT NOT NULL,
  input TEXT,
  output TEXT,
  error TEXT,
  key_generation INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  completed_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;
CREATE TABLE wf_attempts (
  run_id TEXT NOT NULL,
  step_id INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  tenant_id TEXT NOT NULL,
  step_name TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  input TEXT,
  outcome TEXT NOT NULL,
  effect TEXT NOT NULL,
  error_code TEXT,
  error_message TEXT,
  started_at INTEGER,
  ended_at INTEGER,
  next_retry_at INTEGER,
  PRIMARY KEY (run_id, step_id, attempt)
) WITHOUT ROWID;
`;

const runsPostgres = `
CREATE TABLE wf_runs (
  run_id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  workflow_name TEXT NOT NULL,
  workflow_version INTEGER NOT NULL,
  status TEXT NOT NULL,
  input TEXT,
  output TEXT,
  error TEXT,
  business_keys TEXT NOT NULL,
  owner TEXT,
  lease_epoch INTEGER NOT NULL,
  lease_expires_at BIGINT,
  recovery_count INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  completed_at BIGINT
);
CREATE INDEX wf_runs_active ON wf_runs (status) WHERE status IN ('pending', 'running');
CREATE INDEX wf_runs_tenant_created ON wf_runs (tenant_id, created_at);
CREATE TABLE wf_run_keys (
  run_id TEXT NOT NULL,
  key_name TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  key_value TEXT NOT NULL,
  PRIMARY KEY (run_id, key_name)
);
CREATE INDEX wf_run_keys_lookup ON wf_run_keys (tenant_id, key_name, key_value);
CREATE TABLE wf_steps (
  run_id TEXT NOT NULL,
  step_id INTEGER NOT NULL,
  tenant_id TEXT NOT NULL,
  step_name TEXT NOT NULL,
  status TEXT NOT NULL,
  input TEXT,
  output TEXT,
  error TEXT,
  key_generation INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  started_at BIGINT NOT NULL,
  completed_at BIGINT NOT NULL,
  PRIMARY KEY (run_id, step_id)
);
CREATE TABLE wf_attempts (
  run_id TEXT NOT NULL,
  step_id INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  tenant_id TEXT NOT NULL,
  step_name TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  input TEXT,
  outcome TEXT NOT NULL,
  effect TEXT NOT NULL,
  error_code TEXT,
  error_message TEXT,
  started_at BIGINT,
  ended_at BIGINT,
  next_retry_at BIGINT,
  PRIMARY KEY (run_id, step_id, attempt)
);
`;

// Signals sent to runs (kept until a wait consumes them, so a signal sent before the wait is not lost),
// queues with priorities, and rate budgets shared by every process on the database.
const signalsSqlite = `
CREATE TABLE wf_signals (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  signal_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  payload TEXT,
  sent_at INTEGER NOT NULL,
  consumed_step INTEGER,
  UNIQUE (run_id, signal_id)
);
CREATE INDEX wf_signals_waiting ON wf_signals (run_id, name, seq) WHERE consumed_step IS NULL;
ALTER TABLE wf_runs ADD COLUMN queue TEXT;
ALTER TABLE wf_runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX wf_runs_queued ON wf_runs (queue, priority, created_at) WHERE status = 'pending';
CREATE TABLE wf_budgets (
  name TEXT PRIMARY KEY,
  tokens REAL NOT NULL,
  refilled_at INTEGER NOT NULL,
  blocked_until INTEGER NOT NULL
) WITHOUT ROWID;
`;

const signalsPostgres = `
CREATE TABLE wf_signals (
  seq BIGSERIAL PRIMARY KEY,
  run_id TEXT NOT NULL,
  signal_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  payload TEXT,
  sent_at BIGINT NOT NULL,
  consumed_step INTEGER,
  UNIQUE (run_id, signal_id)
);
CREATE INDEX wf_signals_waiting ON wf_signals (run_id, name, seq) WHERE consumed_step IS NULL;
ALTER TABLE wf_runs ADD COLUMN queue TEXT;
ALTER TABLE wf_runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX wf_runs_queued ON wf_runs (queue, priority, created_at) WHERE status = 'pending';
CREATE TABLE wf_budgets (
  name TEXT PRIMARY KEY,
  tokens DOUBLE PRECISION NOT NULL,
  refilled_at BIGINT NOT NULL,
  blocked_until BIGINT NOT NULL
);
`;

// Runs parked while they wait (a long sleep, a signal wait): `waiting` with the time they are due; a
// signal sent to such a run brings `wake_at` forward. The poller claims due runs through this index.
const parkedSqlite = `
ALTER TABLE wf_runs ADD COLUMN wake_at INTEGER;
CREATE INDEX wf_runs_waking ON wf_runs (wake_at) WHERE status = 'waiting';
`;

const parkedPostgres = `
ALTER TABLE wf_runs ADD COLUMN wake_at BIGINT;
CREATE INDEX wf_runs_waking ON wf_runs (wake_at) WHERE status = 'waiting';
`;

export const workflowMigrations: Migration[] = [
  {
    id: '0100_workflow_runs',
    description: 'Workflow runs, searchable business keys, step journal and attempt history',
    sqlite: runsSqlite,
    postgres: runsPostgres,
  },
  {
    id: '0101_workflow_signals_queues_budgets',
    description: 'Signals kept until consumed, run queues with priorities, shared rate budgets',
    sqlite: signalsSqlite,
    postgres: signalsPostgres,
  },
  {
    id: '0102_workflow_parked_runs',
    description: 'Runs parked out of memory while they wait, with the time they are due',
    sqlite: parkedSqlite,
    postgres: parkedPostgres,
  },
];
