// Tryton JSON-RPC over the shared HTTP client. One session is reused by every call (a login costs a
// password hash, ~10x a call) and renewed once when the server answers 401. The body is exactly
// `{"id","method","params"}`: any other key changes Tryton's answer format. Errors in the answer
// (`{"error":["UserError",[msg, desc, domain]]}`) become typed `TrytonUserError`s.
import { ConnectorAuthFailedError, ConnectorProtocolError, ConnectorSystemError } from '../errors.ts';
import type { HttpClient, HttpRequest } from '../http/index.ts';
import type { Priority } from '../http/index.ts';
import { decode } from './tryton-codec.ts';

/** A refusal by Tryton itself (`UserError`, `UserWarning`, `AccessError`, `ConcurrencyException`, ...). */
export class TrytonUserError extends ConnectorSystemError {
  /** Tryton's exception class, e.g. `UserError`. */
  readonly trytonType: string;
  /** Tryton's longer explanation, when it gave one. */
  readonly description: string;
  /** For `UserWarning`: the warning's name, which a user could choose to skip. */
  readonly warningName: string | undefined;
  constructor(trytonType: string, message: string, description: string, warningName?: string) {
    super({
      system: 'tryton',
      systemCode: trytonType,
      detail: description ? `${message} (${description})` : message,
    });
    this.trytonType = trytonType;
    this.description = description;
    this.warningName = warningName;
  }
}

/** Turns the `error` member of a Tryton answer into a typed error. */
export function trytonError(error: unknown): Error {
  if (!Array.isArray(error) || typeof error[0] !== 'string') {
    return new ConnectorProtocolError({
      system: 'tryton',
      detail: `unreadable error ${JSON.stringify(error)}`,
    });
  }
  const [type, args] = error as [string, unknown];
  const list = Array.isArray(args)
    ? args.map((a) => (typeof a === 'string' ? a : ''))
    : [typeof args === 'string' ? args : ''];
  switch (type) {
    case 'UserWarning':
      return new TrytonUserError(type, list[1] ?? '', list[2] ?? '', list[0]);
    case 'LoginException':
      return new ConnectorAuthFailedError({
        system: 'tryton',
        detail: `login needs ${list[0] ?? 'more'}: ${list[1] ?? ''}`,
      });
    default:
      // UserError / AccessError: [message, description, domain]; other exceptions: [str(e), ""].
      return new TrytonUserError(type, list[0] ?? type, list[1] ?? '');
  }
}

export interface TrytonRpcOptions {
  /** HTTP client whose base URL is the database's RPC URL, e.g. `http://127.0.0.1:8000/tryton/`. */
  readonly http: HttpClient;
  readonly user: string;
  readonly password: string;
  /** Language sent at login (default `en`). */
  readonly language?: string;
}

export interface CallOptions {
  /** Whether the call only reads (then it may be retried after a timeout). Default false. */
  readonly idempotent?: boolean;
  readonly priority?: Priority;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

export class TrytonRpc {
  private readonly http: HttpClient;
  private readonly user: string;
  private readonly password: string;
  private readonly language: string;
  private session: Promise<string> | undefined;
  private preferences: Promise<Record<string, unknown>> | undefined;
  private nextId = 1;
  /** Logins made so far (sessions are reused; tests check this stays small). */
  logins = 0;

  constructor(options: TrytonRpcOptions) {
    this.http = options.http;
    this.user = options.user;
    this.password = options.password;
    this.language = options.language ?? 'en';
  }

  /** The user id of the current session (logs in if needed). */
  async userId(): Promise<number> {
    const header = await this.authorization();
    const decoded = Buffer.from(header.replace(/^Session /, ''), 'base64').toString('utf8');
    return Number(decoded.split(':')[1]);
  }

  /** The server's version, asked at the server root (no database, no session). */
  serverVersion(): Promise<string> {
    return this.send<string>('common.server.version', [], undefined, { idempotent: true }, '../');
  }

  /** Calls a method with the session, logging in again once if Tryton answers 401. */
  async call<T = unknown>(method: string, params: readonly unknown[], options: CallOptions = {}): Promise<T> {
    const auth = await this.authorization();
    try {
      return await this.send<T>(method, params, auth, options);
    } catch (error) {
      if (!(error instanceof ConnectorAuthFailedError) || error.context.httpStatus !== 401) throw error;
      if (this.session !== undefined && (await this.session.catch(() => undefined)) === auth)
        this.session = undefined;
      return await this.send<T>(method, params, await this.authorization(), options);
    }
  }

  /** The user's preferences, which Tryton wants as the context (last parameter) of model calls. */
  context(): Promise<Record<string, unknown>> {
    this.preferences ??= this.call<Record<string, unknown>>('model.res.user.get_preferences', [true, {}], {
      idempotent: true,
    }).catch((error: unknown) => {
      this.preferences = undefined;
      throw error;
    });
    return this.preferences;
  }

  /** `model.<model>.<method>` with `args` followed by the user's context. */
  async model<T = unknown>(
    model: string,
    method: string,
    args: readonly unknown[],
    options: CallOptions = {},
  ): Promise<T> {
    const context = await this.context();
    return this.call<T>(`model.${model}.${method}`, [...args, context], options);
  }

  /** Forgets the session, so the next call logs in again. */
  reset(): void {
    this.session = undefined;
    this.preferences = undefined;
  }

  private authorization(): Promise<string> {
    this.session ??= this.login().catch((error: unknown) => {
      this.session = undefined;
      throw error;
    });
    return this.session;
  }

  private async login(): Promise<string> {
    this.logins += 1;
    const result = await this.send<unknown>(
      'common.db.login',
      [this.user, { password: this.password }, this.language],
      undefined,
      { idempotent: true, priority: 'high' },
    ).catch((error: unknown) => {
      // Tryton answers a refused login with an HTML 401 page: say it plainly instead.
      if (error instanceof ConnectorAuthFailedError && error.context.httpStatus !== undefined) {
        throw new ConnectorAuthFailedError(
          {
            system: 'tryton',
            httpStatus: error.context.httpStatus as number,
            detail: `login refused for user ${this.user}`,
          },
          { cause: error },
        );
      }
      throw error;
    });
    if (!Array.isArray(result) || typeof result[0] !== 'number' || typeof result[1] !== 'string') {
      throw new ConnectorAuthFailedError({ system: 'tryton', detail: `login refused for user ${this.user}` });
    }
    return `Session ${Buffer.from(`${this.user}:${result[0]}:${result[1]}`).toString('base64')}`;
  }

  private async send<T>(
    method: string,
    params: readonly unknown[],
    authorization: string | undefined,
    options: CallOptions,
    path = '',
  ): Promise<T> {
    const id = this.nextId++;
    const request: HttpRequest = {
      method: 'POST',
      path,
      // Exactly these three keys: with any other (e.g. "jsonrpc") Tryton answers in another format.
      json: { id, method, params },
      headers: authorization === undefined ? {} : { authorization },
      idempotent: options.idempotent ?? false,
      operation: `rpc ${method}`,
      ...(options.priority === undefined ? {} : { priority: options.priority }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    };
    const response = await this.http.request(request);
    let body: unknown;
    try {
      body = response.json();
    } catch {
      throw new ConnectorProtocolError({ system: 'tryton', operation: method, detail: 'answer is not JSON' });
    }
    if (typeof body !== 'object' || body === null || !('id' in body)) {
      throw new ConnectorProtocolError({ system: 'tryton', operation: method, detail: 'answer has no id' });
    }
    if ('error' in body && body.error !== null && body.error !== undefined) throw trytonError(body.error);
    if (!('result' in body)) {
      throw new ConnectorProtocolError({
        system: 'tryton',
        operation: method,
        detail: 'answer has no result',
      });
    }
    return decode(body.result) as T;
  }
}
