// A TCP proxy between a browser and the app that drops, on demand, the connections carrying an
// event stream, in the middle of its body, as a network blip does: both sides are reset, so the
// browser's reader fails and the app sees its client gone. Other bytes pass through unchanged.
import { createConnection, createServer, type Socket } from "node:net";

export interface StreamCutter {
  /** The app's address through the proxy. */
  readonly url: string;
  /** Resets every connection whose latest response is an event stream; returns how many there were. */
  cutStreams(): number;
  close(): Promise<void>;
}

interface Connection {
  eventStream: boolean;
  cut(): void;
}

/** Starts a proxy on 127.0.0.1 (a free port) to the HTTP server at `target`. */
export async function startStreamCutter(target: string): Promise<StreamCutter> {
  const { hostname, port } = new URL(target);
  const open = new Set<Connection>();

  const proxy = createServer((client: Socket) => {
    const server = createConnection({ host: hostname, port: Number(port) });
    const connection: Connection = {
      eventStream: false,
      cut() {
        open.delete(connection);
        for (const socket of [client, server]) if (!socket.destroyed) socket.resetAndDestroy();
      },
    };
    open.add(connection);
    client.on("error", connection.cut).on("close", connection.cut);
    server.on("error", connection.cut).on("close", connection.cut);
    client.on("data", (chunk: Buffer) => server.write(chunk));
    server.on("data", (chunk: Buffer) => {
      // A response's head starts a chunk (a client sends its next request only once the last
      // response has ended): note whether this response is an event stream.
      const text = chunk.toString("latin1");
      if (text.startsWith("HTTP/1.1 ")) {
        const end = text.indexOf("\r\n\r\n");
        const head = end < 0 ? text : text.slice(0, end);
        connection.eventStream = /\r\ncontent-type: *text\/event-stream/i.test(head);
      }
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const { port: proxyPort } = proxy.address() as { port: number };

  return {
    url: `http://127.0.0.1:${proxyPort}`,
    cutStreams() {
      const streams = [...open].filter((c) => c.eventStream);
      for (const stream of streams) stream.cut();
      return streams.length;
    },
    async close() {
      for (const connection of [...open]) connection.cut();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
