// Structured JSON logs (pino). Secrets are kept out twice over: configuration is never logged, and
// every line passes through a scrubber that replaces any known secret value before it is written.
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  /** Minimum level written (default `info`). */
  readonly level?: LogLevel;
  /** Secret values to scrub from every line; values shorter than 4 characters are ignored. */
  readonly secrets?: Iterable<string>;
  /** Where lines go (default stdout). */
  readonly destination?: DestinationStream;
}

export const REDACTED = '[redacted]';

/** Wraps a destination so that no known secret value reaches it, whatever a caller logs. */
export function scrubbingDestination(
  target: DestinationStream,
  secrets: Iterable<string>,
): DestinationStream {
  const values = [...new Set(secrets)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  if (values.length === 0) return target;
  // Secrets may appear JSON-escaped inside a log line, so scrub both forms.
  const forms = [...new Set(values.flatMap((v) => [v, JSON.stringify(v).slice(1, -1)]))];
  return {
    write(line: string) {
      let out = line;
      for (const form of forms) if (out.includes(form)) out = out.split(form).join(REDACTED);
      target.write(out);
    },
  };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = scrubbingDestination(options.destination ?? pino.destination(1), options.secrets ?? []);
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'crossdock' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['req.headers.authorization', 'req.headers["x-api-key"]', '*.password', '*.secret', '*.token'],
        censor: REDACTED,
      },
    },
    destination,
  );
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
