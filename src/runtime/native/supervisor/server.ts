/**
 * A newline-delimited JSON server on a Unix socket: each request line is decoded and given to the
 * handler, and its response is written back as one line, in order, per connection. The socket is
 * created mode 0600 (only its owner may connect). It knows nothing of what the requests mean.
 */
import fs from "node:fs";
import net from "node:net";
import { errorMessage } from "./wait.js";

/** A connection whose unanswered input grows beyond this is dropped. */
export const MAX_LINE_BYTES = 1_000_000;

export interface Reply {
  /** Written back as one JSON line. */
  response: unknown;
  /** Called once the response is written (or the connection is gone). */
  afterWrite?: (() => void) | undefined;
}

/** Handles one decoded request line. A throw is answered `{ ok: false, error }`. */
export type RequestHandler = (request: unknown) => Promise<Reply>;

export interface LineServerOptions {
  /** One log line (no trailing newline). Default: nothing. */
  log?: (line: string) => void;
}

export class LineServer {
  readonly socketPath: string;
  private readonly handler: RequestHandler;
  private readonly log: (line: string) => void;
  private server: net.Server | undefined;
  private listened = false;
  private rebinding = false;
  private closed = false;

  constructor(socketPath: string, handler: RequestHandler, opts: LineServerOptions = {}) {
    this.socketPath = socketPath;
    this.handler = handler;
    this.log = opts.log ?? (() => {});
  }

  /** Listen on the socket path, which must not exist (remove a stale one first). */
  async listen(): Promise<void> {
    this.server = await this.bind();
    this.listened = true;
  }

  /**
   * Listen again when the socket file was removed (e.g. a temp cleaner): without it nobody can
   * connect. Call it periodically; it does nothing while the socket is in place.
   */
  relistenIfGone(): void {
    if (!this.listened || this.closed || this.rebinding || fs.existsSync(this.socketPath)) return;
    this.log(`socket ${this.socketPath} is missing: listening again`);
    this.rebinding = true;
    // Close first: closing a pipe server unlinks its path, which would remove the new socket.
    this.server?.close();
    this.server = undefined;
    this.bind()
      .then((server) => {
        if (this.closed) server.close();
        else this.server = server;
      })
      .catch((err: unknown) => this.log(`cannot listen again: ${errorMessage(err)}`))
      .finally(() => {
        this.rebinding = false;
      });
  }

  /** Stop listening and remove the socket file. Open connections finish their current reply. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server?.close();
    this.server = undefined;
    if (this.listened) fs.rmSync(this.socketPath, { force: true });
  }

  private async bind(): Promise<net.Server> {
    const server = net.createServer((sock) => this.onConnection(sock));
    const oldUmask = process.umask(0o177); // the socket is created 0600
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(this.socketPath, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } finally {
      process.umask(oldUmask);
    }
    fs.chmodSync(this.socketPath, 0o600);
    server.on("error", (err) => this.log(`socket error: ${errorMessage(err)}`));
    return server;
  }

  private onConnection(sock: net.Socket): void {
    sock.setEncoding("utf8");
    sock.on("error", () => {});
    let buffer = "";
    let chain = Promise.resolve();
    sock.on("data", (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_LINE_BYTES) {
        sock.destroy();
        return;
      }
      for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
        const line = buffer.slice(0, i).trim();
        buffer = buffer.slice(i + 1);
        if (line) chain = chain.then(() => this.processLine(sock, line));
      }
    });
  }

  private async processLine(sock: net.Socket, line: string): Promise<void> {
    let request: unknown;
    let decoded = true;
    try {
      request = JSON.parse(line);
    } catch {
      decoded = false;
    }
    const reply: Reply = decoded
      ? await Promise.resolve()
          .then(() => this.handler(request))
          .catch((err: unknown): Reply => ({ response: { ok: false, error: errorMessage(err) } }))
      : { response: { ok: false, error: "invalid JSON request" } };
    await new Promise<void>((resolve) => {
      if (sock.destroyed || !sock.writable) return resolve();
      sock.write(`${JSON.stringify(reply.response)}\n`, () => resolve());
    });
    reply.afterWrite?.();
  }
}
