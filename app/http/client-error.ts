import type { Socket } from "node:net";
import { STATUS_CODES } from "node:http";

/** Requests Node's HTTP parser refuses before Express sees them, by the parser's error code. */
const REFUSED: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: "HEADERS_TOO_LARGE",
    message: "the request's URL and headers are larger than the server accepts (16 KB in all)",
  },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: "REQUEST_TIMEOUT", message: "the request took too long to arrive" },
};
const MALFORMED = { status: 400, code: "BAD_REQUEST", message: "the request is not valid HTTP" };
// How long the client has to read the answer before the connection is cut: one that keeps its side
// open and sending would otherwise hold it past every timeout.
const LINGER_MS = 1_000;
const answered = new WeakSet<Socket>();

/**
 * The server's `clientError` handler: answers as Node would (431, 408, else 400), but with the
 * API's JSON error body instead of an empty one.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  // The parser reports every later chunk of a refused request again: answer once.
  if (answered.has(socket)) return;
  if (error.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  answered.add(socket);
  const { status, code, message } = REFUSED[error.code ?? ""] ?? MALFORMED;
  const body = JSON.stringify({ error: { code, message } });
  // Read (and drop) what the client is still sending: closing with it unread would reset the
  // connection, and the client could lose the answer.
  socket.resume();
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  const cut = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once("close", () => clearTimeout(cut));
}
