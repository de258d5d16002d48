// A real HTTP server on 127.0.0.1 (port 0) whose answers a test scripts request by request, and which
// records what it received (method, path, headers, body), so the HTTP client is tested over sockets.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export type Handler = (req: ReceivedRequest, res: http.ServerResponse, index: number) => void | Promise<void>;

export interface LoopbackServer {
  readonly url: string;
  readonly received: ReceivedRequest[];
  /** Requests being handled right now, and the most seen at once. */
  readonly concurrency: { current: number; max: number };
  handle(handler: Handler): void;
  close(): Promise<void>;
}

export async function startLoopbackServer(): Promise<LoopbackServer> {
  let handler: Handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  };
  const received: ReceivedRequest[] = [];
  const concurrency = { current: 0, max: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      const index = received.push(r) - 1;
      concurrency.current += 1;
      concurrency.max = Math.max(concurrency.max, concurrency.current);
      res.on('close', () => (concurrency.current -= 1));
      Promise.resolve(handler(r, res, index)).catch((error: unknown) => {
        res.writeHead(500).end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/`,
    received,
    concurrency,
    handle(h) {
      handler = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers JSON. */
export function json(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}
