// Named crash points: places in the sync engine where a process death is the interesting case (a write
// sent but not yet recorded, ...). With `CROSSDOCK_CRASH_POINT=<name>` (or `<name>@<n>` for the n-th
// time that point is reached) the process kills itself with SIGKILL there, so tests can restart it and
// prove nothing is lost or doubled. Unset, a crash point costs one comparison.

export const CRASH_POINTS = [
  /** The effect's intent row is durable; nothing sent yet. */
  'after-intent-recorded',
  /** The attempt is counted durably; the request is about to be sent. */
  'before-remote-write',
  /** The target applied the write; the ledger does not know yet. */
  'after-remote-write-before-ledger',
  /** The outcome is durable; the caller (a workflow step) has not been told. */
  'after-ledger-before-ack',
  /** Desired state was applied through the ledger; its applied version is not yet recorded. */
  'after-effect-before-desired-ack',
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

const hits = new Map<string, number>();

/** Dies here (SIGKILL, no cleanup, like a power cut for this process) when the env names this point. */
export function crashPoint(name: CrashPoint): void {
  const spec = process.env.CROSSDOCK_CRASH_POINT;
  if (spec === undefined || spec === '') return;
  const [point, nth] = spec.split('@');
  if (point !== name) return;
  const count = (hits.get(name) ?? 0) + 1;
  hits.set(name, count);
  if (count >= Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
}
