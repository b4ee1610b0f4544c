// Clients that hold connections the way a hostile one does: connected and silent, trickling their
// headers or body, idling after a request. Raw TCP, since fetch would neither trickle nor idle.
import { request as httpRequest } from "node:http";
import { connect, type Socket } from "node:net";

export interface RawConnection {
  socket: Socket;
  /** Milliseconds since the connection opened. */
  elapsed(): number;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves with `elapsed()` when the server's first bytes arrive. */
  answered: Promise<number>;
  /** Resolves with `elapsed()` when the server has closed its side (or the connection is gone). */
  ended: Promise<number>;
  /**
   * Resolves with `elapsed()` when the connection is gone. After the server's close, only a write
   * tells whether the server still holds it (then the write is taken) or has let go (a reset).
   */
  closed: Promise<number>;
}

/**
 * A TCP connection to `url`'s host and port, once open. It keeps its side open when the server
 * closes its own (as a hostile client would), so only the server can end it, by cutting it.
 */
export function openConnection(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), allowHalfOpen: true });
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  let received = "";
  // A write racing the server's cut fails with EPIPE or ECONNRESET: the cut is what is measured.
  socket.on("error", () => {});
  const answered = new Promise<number>((resolve) => socket.once("data", () => resolve(elapsed())));
  socket.on("data", (chunk: Buffer) => (received += chunk.toString()));
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(elapsed())));
  const ended = Promise.race([closed, new Promise<number>((resolve) => socket.once("end", () => resolve(elapsed())))]);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve({ socket, elapsed, received: () => received, answered, ended, closed }));
    socket.once("error", reject);
  });
}

/** Writes `chunk` every `everyMs` until the connection closes: a slowloris client. */
export function trickle(conn: RawConnection, chunk: string, everyMs = 100): void {
  const timer = setInterval(() => {
    if (conn.socket.writable) conn.socket.write(chunk);
  }, everyMs);
  void conn.closed.then(() => clearInterval(timer));
}

/** The status line and JSON body of a raw HTTP answer (`Connection: close`, so the body is the rest). */
export function parseAnswer(raw: string): { status: number; body: unknown } {
  const [head = "", body = ""] = raw.split("\r\n\r\n", 2);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), body: body ? JSON.parse(body) : undefined };
}

/** GET `path` on a new connection of its own, never a pooled one; resolves with the status and the time to the whole answer. */
export function getFresh(url: string, path: string, timeoutMs = 10_000): Promise<{ status: number; ms: number }> {
  const { hostname, port } = new URL(url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer to GET ${path} within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}
