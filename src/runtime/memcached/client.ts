import net from "node:net";

/**
 * A small client of memcached's text and meta protocols, for copying sessions between nodes:
 * pipelined requests on one connection, `lru_crawler metadump hash`, `mg`/`ms`/`md` with flags,
 * TTLs and CAS, `stats`, and `watch mutations`. Dependency-free (node: modules only): the memcached
 * launcher runs it inside images, where there is no npm. (The host's reads of session keys use the
 * `memcached` package; this one exists for what that package does not speak: the meta protocol.)
 */

/**
 * The key where a memcached node's launcher keeps its status in that memcached (JSON, as in its
 * status.json): what a runtime reads where the status file is out of its reach (swarm: on another
 * host). A node whose port is open but that still holds the sessions' locks says `warming` there.
 */
export const STATUS_KEY = "phpcluster.launcher";

export interface Item {
  key: string;
  value: Buffer;
  flags: number;
  /** Remaining TTL in seconds; -1: never expires. */
  ttl: number;
  cas: string;
}

export interface DumpEntry {
  key: string;
  cas: string;
  /** Absolute expiry (memcached's clock), -1 for none. */
  exp: number;
}

type Reader = (buf: Buffer) => { done: true; value: unknown; used: number } | { done: false };

const CRLF = Buffer.from("\r\n");

/** One answer line. Most end in CR LF; metadump's end in a bare LF (its END in CR LF). */
function line(buf: Buffer): { text: string; used: number } | undefined {
  const end = buf.indexOf(0x0a);
  if (end < 0) return undefined;
  const stop = end > 0 && buf[end - 1] === 0x0d ? end - 1 : end;
  return { text: buf.subarray(0, stop).toString("latin1"), used: end + 1 };
}

/** A reader of one line answer. */
const oneLine: Reader = (buf) => {
  const l = line(buf);
  return l ? { done: true, value: l.text, used: l.used } : { done: false };
};

/** A reader of lines up to END (stats, metadump). */
const untilEnd: Reader = (buf) => {
  const lines: string[] = [];
  let used = 0;
  for (;;) {
    const l = line(buf.subarray(used));
    if (!l) return { done: false };
    used += l.used;
    if (l.text === "END") return { done: true, value: lines, used };
    if (
      l.text.startsWith("ERROR") ||
      l.text.startsWith("CLIENT_ERROR") ||
      l.text.startsWith("SERVER_ERROR") ||
      l.text.startsWith("BUSY")
    ) {
      return { done: true, value: new Error(l.text), used };
    }
    lines.push(l.text);
  }
};

/** A reader of `mg <key> v f t c`: `VA <len> <flags>` + data, or `EN`. */
const metaGet: Reader = (buf) => {
  const l = line(buf);
  if (!l) return { done: false };
  if (l.text === "EN") return { done: true, value: undefined, used: l.used };
  const m = /^VA (\d+)(.*)$/.exec(l.text);
  if (!m) return { done: true, value: new Error(`mg answered: ${l.text}`), used: l.used };
  const len = Number(m[1]);
  if (buf.length < l.used + len + 2) return { done: false };
  const flags = Object.fromEntries(
    (m[2] ?? "")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((f) => [f[0], f.slice(1)]),
  ) as Record<string, string>;
  return {
    done: true,
    value: {
      value: Buffer.from(buf.subarray(l.used, l.used + len)),
      flags: Number(flags.f ?? 0),
      ttl: Number(flags.t ?? -1),
      cas: flags.c ?? "0",
    },
    used: l.used + len + 2,
  };
};

export class McConnection {
  private socket: net.Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private queue: { reader: Reader; resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly timeoutMs = 2000,
  ) {}

  get address(): string {
    return this.host.includes(":") ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  connect(): Promise<this> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port });
      const timer = setTimeout(
        () => socket.destroy(new Error(`no connection to ${this.address} within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        this.socket = socket;
        resolve(this);
      });
      socket.on("data", (d: Buffer) => this.onData(d));
      socket.on("error", (err) => {
        clearTimeout(timer);
        this.fail(err);
        reject(err);
      });
      socket.on("close", () => this.fail(new Error(`connection to ${this.address} closed`)));
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const q of this.queue.splice(0)) q.reject(err);
  }

  private onData(d: Buffer): void {
    this.buffer = this.buffer.length === 0 ? d : Buffer.concat([this.buffer, d]);
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (!head) break;
      const r = head.reader(this.buffer);
      if (!r.done) break;
      this.buffer = this.buffer.subarray(r.used);
      this.queue.shift();
      if (r.value instanceof Error) head.reject(r.value);
      else head.resolve(r.value);
    }
  }

  /** Send raw bytes and read one answer with `reader` (requests are pipelined, answers in order). */
  request<T>(data: Buffer | string, reader: Reader): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.socket) return Promise.reject(new Error("not connected"));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new Error(`no answer from ${this.address} within ${this.timeoutMs} ms`);
        this.fail(err);
        this.socket?.destroy();
      }, this.timeoutMs);
      this.queue.push({
        reader,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.socket?.write(data);
    });
  }

  version(): Promise<string> {
    return this.request<string>("version\r\n", oneLine);
  }

  async stats(): Promise<Record<string, string>> {
    const lines = await this.request<string[]>("stats\r\n", untilEnd);
    return Object.fromEntries(lines.map((l) => l.split(" ")).map((p) => [p[1] ?? "", p[2] ?? ""]));
  }

  /** Every key in the hash table (not the LRU: `metadump all` misses keys under load), with its cas. */
  async dump(): Promise<DumpEntry[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        const lines = await this.request<string[]>("lru_crawler metadump hash\r\n", untilEnd);
        return lines.map((l) => {
          const f = Object.fromEntries(
            l.split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
          );
          return { key: decodeURIComponent(f.key ?? ""), cas: f.cas ?? "0", exp: Number(f.exp ?? -1) };
        });
      } catch (err) {
        // BUSY: another crawler run (a second copier, the LRU maintainer) holds the crawler
        if (!/^BUSY/.test((err as Error).message) || attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  /** mg for many keys, pipelined: the ones present. */
  async getMany(keys: string[]): Promise<Map<string, Item>> {
    const out = new Map<string, Item>();
    const answers = keys.map((key) =>
      this.request<Omit<Item, "key"> | undefined>(`mg ${key} v f t c\r\n`, metaGet).then((item) => {
        if (item) out.set(key, { key, ...item });
      }),
    );
    await Promise.all(answers);
    return out;
  }

  /**
   * ms: store a value. `cas` guards the write (fails with EX when the item changed, NF when it is
   * gone); `add` stores only when the key is absent (NS otherwise). Returns memcached's code.
   */
  async set(
    item: Pick<Item, "key" | "value" | "flags" | "ttl">,
    opts: { cas?: string; add?: boolean } = {},
  ): Promise<string> {
    return (await this.store(item, opts)).code;
  }

  /** ms returning the code and the new item's cas. */
  async store(
    item: Pick<Item, "key" | "value" | "flags" | "ttl">,
    opts: { cas?: string; add?: boolean } = {},
  ): Promise<{ code: string; cas: string | undefined }> {
    const ttl = item.ttl < 0 ? 0 : Math.max(1, item.ttl);
    const flags = [
      `F${item.flags}`,
      `T${ttl}`,
      "c",
      ...(opts.cas ? [`C${opts.cas}`] : []),
      ...(opts.add ? ["ME"] : []),
    ];
    const head = Buffer.from(`ms ${item.key} ${item.value.length} ${flags.join(" ")}\r\n`, "latin1");
    const answer = await this.request<string>(Buffer.concat([head, item.value, CRLF]), oneLine);
    const [code = "", ...rest] = answer.split(" ");
    return { code, cas: rest.find((f) => f.startsWith("c"))?.slice(1) };
  }

  /** md: delete, guarded by cas when given. */
  delete(key: string, cas?: string): Promise<string> {
    return this.request<string>(`md ${key}${cas ? ` C${cas}` : ""}\r\n`, oneLine);
  }

  close(): void {
    this.socket?.end();
    this.socket?.destroy();
  }
}

/** A connection that reports each key stored on a server from now on (`watch mutations`). */
export class MutationWatch {
  readonly keys = new Set<string>();
  /** When each key was last seen stored (ms since the epoch). */
  readonly seen = new Map<string, number>();
  /** The server dropped log lines (a slow reader): the key set is incomplete. */
  lossy = false;
  private socket: net.Socket | undefined;
  private rest = "";

  constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  start(timeoutMs = 2000): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port });
      this.socket = socket;
      const timer = setTimeout(() => socket.destroy(new Error("watch: no answer")), timeoutMs);
      let ready = false;
      socket.setEncoding("latin1");
      socket.on("connect", () => socket.write("watch mutations\r\n"));
      socket.on("data", (d: string) => {
        const text = this.rest + d;
        const lines = text.split(/\r?\n/); // log lines end in a bare LF
        this.rest = lines.pop() ?? "";
        for (const l of lines) {
          if (!ready) {
            clearTimeout(timer);
            ready = true;
            if (l === "OK") resolve();
            else reject(new Error(`watch answered: ${l}`));
            continue;
          }
          if (l.startsWith("skipped")) this.lossy = true;
          const m = / key=(\S+) status=stored /.exec(l);
          if (m?.[1]) {
            const key = decodeURIComponent(m[1]);
            this.keys.add(key);
            this.seen.set(key, Date.now());
          }
        }
      });
      socket.on("error", (err) => {
        clearTimeout(timer);
        this.lossy = true;
        if (!ready) reject(err);
      });
      socket.on("close", () => {
        if (ready) this.lossy = true;
      });
    });
  }

  stop(): void {
    this.socket?.removeAllListeners("close");
    this.socket?.destroy();
  }
}
