// A TCP proxy in the test process between a client (the app's checkpointer) and a real MySQL
// server, which breaks connections on demand as a network, a failover or a crashed server does:
// it resets the open connections, refuses new ones, or resets a connection right after the server
// answered a given statement, so the statement ran and the client never learns it did (a COMMIT
// whose answer was lost). Bytes pass through unchanged otherwise; nothing here answers for the server.
import { createConnection, createServer, type Server } from "node:net";

export interface MysqlProxy {
  /** `url` (a MySQL URL) pointed at the proxy instead of its own host and port. */
  url(target: string): string;
  /** While true, each new connection is reset as soon as it is accepted. */
  refusing: boolean;
  /** Resets every open connection on both sides; returns how many there were. */
  cutAll(): number;
  /**
   * From now on, once: when a client sends a text query (COM_QUERY) matching `statement`, passes it
   * on, waits for the server's answer, and resets both sides instead of passing the answer back.
   */
  cutAfterAnswerTo(statement: RegExp): void;
  readonly counts: { accepted: number; refused: number; cutAfterAnswer: number };
  close(): Promise<void>;
}

const COM_QUERY = 0x03;

/** Starts a proxy on 127.0.0.1 (a free port) to the server of `target`, a MySQL URL. */
export async function startMysqlProxy(target: string): Promise<MysqlProxy> {
  const { hostname, port } = new URL(target);
  const open = new Set<() => void>(); // each open connection's cut
  const counts = { accepted: 0, refused: 0, cutAfterAnswer: 0 };
  let armed: RegExp | null = null;
  let refusing = false;

  const proxy: Server = createServer((client) => {
    counts.accepted++;
    if (refusing) {
      counts.refused++;
      client.resetAndDestroy();
      return;
    }
    const server = createConnection({ host: hostname, port: Number(port || 3306) });
    const cut = () => {
      open.delete(cut);
      for (const socket of [client, server]) if (!socket.destroyed) socket.resetAndDestroy();
    };
    open.add(cut);
    client.on("error", cut).on("close", cut);
    server.on("error", cut).on("close", cut);

    // Client to server: whole MySQL packets (3-byte length, sequence id, payload) are read as they
    // pass, to spot a command. Commands start a new exchange, with sequence id 0.
    let pending = Buffer.alloc(0);
    let cutOnAnswer = false;
    client.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const length = pending.readUIntLE(0, 3);
        if (pending.length < 4 + length) break;
        const [sequence, command] = [pending[3], pending[4]];
        // The text follows the query attributes' two counts (bytes 0 and 1) when the client sends them.
        const text = () => {
          let start = 5;
          while (start < 4 + length && pending[start]! < 0x20) start++;
          return pending.subarray(start, 4 + length).toString("utf8").trim();
        };
        if (armed && sequence === 0 && command === COM_QUERY && armed.test(text())) {
          armed = null;
          cutOnAnswer = true;
        }
        pending = pending.subarray(4 + length);
      }
      server.write(chunk);
    });
    server.on("data", (chunk: Buffer) => {
      if (!cutOnAnswer) {
        client.write(chunk);
        return;
      }
      counts.cutAfterAnswer++;
      cut();
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const proxyPort = (proxy.address() as { port: number }).port;

  const cutAll = () => {
    const cuts = [...open];
    for (const cut of cuts) cut();
    return cuts.length;
  };
  return {
    url(targetUrl: string) {
      const url = new URL(targetUrl);
      url.hostname = "127.0.0.1";
      url.port = String(proxyPort);
      return url.toString();
    },
    get refusing() {
      return refusing;
    },
    set refusing(value: boolean) {
      refusing = value;
    },
    cutAll,
    cutAfterAnswerTo(statement: RegExp) {
      armed = statement;
    },
    counts,
    async close() {
      cutAll();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
