// Failures of the journeys: a write to a target system that kept failing after every retry, and a
// journey configuration that names a system that is not configured.
import { CrossdockError, defineError } from '../errors/index.ts';

export const JourneyWriteFailedDef = defineError({
  code: 'JOURNEY_WRITE_FAILED',
  status: 502,
  retryable: false,
  title: 'A journey write kept failing',
  description:
    'A journey (e.g. order visibility) could not write a case update or a milestone comment to the target system after all its retries with backoff. The write is left in the sync dead letters (`crossdock` lists them) with the last error; the next change to the same case retries it. Check that the target system is reachable and accepts the fields (e.g. the custom fields exist in the helpdesk).',
});
export class JourneyWriteFailedError extends CrossdockError {
  constructor(
    readonly journey: string,
    readonly target: string,
    readonly attempts: number,
    readonly lastError: string,
  ) {
    super(JourneyWriteFailedDef, `${journey}: write to ${target} failed ${attempts} times: ${lastError}`, {
      journey,
      target,
      attempts,
      lastError,
    });
  }
}

export const JourneyConfigInvalidDef = defineError({
  code: 'JOURNEY_CONFIG_INVALID',
  status: 400,
  retryable: false,
  title: 'A journey or a system it uses is configured wrongly',
  description:
    'A journey under `journeys:` refers to a system name (e.g. `erp: erp`) that is missing from `systems:`, or to a system of a connector type the journey cannot use; or a system under `systems:` lacks a key its connector needs (e.g. `password` for `tryton`) or has one it does not use. The message names the key. `crossdock config validate` reports it without starting anything (exit code 2).',
});
export class JourneyConfigInvalidError extends CrossdockError {
  constructor(
    readonly journey: string,
    readonly problem: string,
  ) {
    super(JourneyConfigInvalidDef, `journey ${journey}: ${problem}`, { journey, problem });
  }
}
