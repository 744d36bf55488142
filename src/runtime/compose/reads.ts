/**
 * What the compose driver runs inside the cluster's containers (`docker exec`), since the backend
 * network is internal: curl to an app node itself, a Memcached `get` on a Memcached node's own
 * port, nginx's test, reload and worker listing in the balancer. Argument arrays only: what comes
 * from outside (a path, a header, a key) is validated and passed as its own argv element, never
 * written into a script. The parsers throw plain errors; the driver words them for the user.
 */
import { COMPOSE_MEMCACHED_PORT } from "../../render/addresses.js";
import { CONTAINER } from "../../render/index.js";
import type { HttpReply, NginxWorker } from "../driver.js";

// ------------------------------------------------------------------------------------- HTTP

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * `curl` inside an app container: one GET to the node itself, headers as separate argv elements,
 * no URL globbing, the path sent as given.
 */
export function curlArgs(
  urlPath: string,
  headers: Record<string, string>,
  maxTimeSeconds = 30,
  host = "127.0.0.1",
): string[] {
  if (!/^\/[^\s\x00-\x1f\x7f]*$/.test(urlPath))
    throw new Error(`not a request path: ${JSON.stringify(urlPath)}`);
  const args = ["curl", "-sS", "-i", "-g", "--path-as-is", "--max-time", String(maxTimeSeconds)];
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) throw new Error(`not a header name: ${JSON.stringify(name)}`);
    if (/[\r\n\0]/.test(value)) throw new Error(`header ${name} has a line break in its value`);
    args.push("-H", `${name}: ${value}`);
  }
  if (!/^[a-z0-9][a-z0-9.-]*(?::[0-9]+)?$/.test(host)) throw new Error(`not a host: ${JSON.stringify(host)}`);
  args.push(`http://${host}${urlPath}`);
  return args;
}

/** What `curl -i` printed: status line, headers (lower-case names), body. Interim 1xx answers are skipped. */
export function parseCurlReply(raw: Uint8Array): HttpReply {
  let rest = Buffer.from(raw);
  for (;;) {
    let end = rest.indexOf("\r\n\r\n");
    let sep = 4;
    if (end < 0 && rest.indexOf("\r\n") < 0) {
      end = rest.indexOf("\n\n");
      sep = 2;
    }
    const headText = (end < 0 ? rest : rest.subarray(0, end)).toString("latin1");
    const body = end < 0 ? Buffer.alloc(0) : rest.subarray(end + sep);
    const [statusLine = "", ...lines] = headText.split(/\r?\n/);
    const m = /^HTTP\/[\d.]+ (\d{3})\b/.exec(statusLine);
    if (!m)
      throw new Error(`no HTTP status line in curl's output: ${JSON.stringify(statusLine.slice(0, 120))}`);
    const status = Number(m[1]);
    if (status >= 100 && status < 200 && status !== 101 && end >= 0) {
      rest = body;
      continue;
    }
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    return { status, headers, body: body.toString("utf8") };
  }
}

// ------------------------------------------------------------------------------------- Memcached

/** Memcached keys read through the runtime: no spaces or control characters, at most 250 bytes. */
export const STORE_KEY_PATTERN = /^[A-Za-z0-9._-]{1,250}$/;

/**
 * bash inside a Memcached container: one multi-key `get k1 k2 …` on the node's own port, and the
 * answer printed as the protocol gives it (`VALUE <key> <flags> <bytes>\r\n<data>\r\n` for each
 * key held, then `END\r\n`). The keys are the positional arguments `"$@"`, never part of the
 * script; `head -c` reads a value by its byte count, so data may hold CR LF or the word END.
 * Exit codes: 3 no connection, 4 the answer stopped before END (or took over 5 s a line),
 * 5 a value could not be read, 6 memcached answered with an error (printed).
 */
export function memcachedGetScript(port: number = COMPOSE_MEMCACHED_PORT, host = "127.0.0.1"): string {
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(host)) throw new Error(`not a host: ${JSON.stringify(host)}`);
  return [
    "set -f",
    `exec 3<>/dev/tcp/${host}/${port} || exit 3`,
    'printf -v keys " %s" "$@"',
    'printf "get%s\\r\\n" "$keys" >&3 || exit 3',
    "while IFS= read -r -t 5 line <&3; do",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion, not a JS template
    "  line=${line%$'\\r'}",
    '  printf "%s\\r\\n" "$line"',
    '  case "$line" in',
    "    END) exit 0 ;;",
    '    "VALUE "*) set -- $line; head -c $(( $4 + 2 )) <&3 || exit 5 ;;',
    "    *) exit 6 ;;",
    "  esac",
    "done",
    "exit 4",
  ].join("\n");
}

export const MEMCACHED_GET_SCRIPT = memcachedGetScript();

/** `docker exec <id> …` arguments reading keys: the script, `$0`, then one argument per key. */
export function memcachedGetArgs(keys: string[], script: string = MEMCACHED_GET_SCRIPT): string[] {
  for (const key of keys) {
    if (!STORE_KEY_PATTERN.test(key)) throw new Error(`not a Memcached key: ${JSON.stringify(key)}`);
  }
  return ["bash", "-c", script, "phpcluster-get", ...keys];
}

/**
 * The answer to one multi-key `get`: the keys memcached holds, with their values (UTF-8); a key
 * it does not hold is absent. An error line, a key not asked for, or an answer that stops before
 * `END` is an error: a missing value must never look like a miss.
 */
export function parseMemcachedGetMulti(raw: Uint8Array, keys: string[]): Record<string, string> {
  const buf = Buffer.from(raw);
  const asked = new Set(keys);
  const out: Record<string, string> = {};
  let pos = 0;
  for (;;) {
    const nl = buf.indexOf("\r\n", pos);
    if (nl < 0) {
      const rest = buf.subarray(pos).toString("latin1").slice(0, 120);
      throw new Error(`incomplete memcached answer (no END): ${JSON.stringify(rest)}`);
    }
    const line = buf.subarray(pos, nl).toString("latin1");
    if (line === "END") {
      if (nl + 2 !== buf.length) throw new Error("memcached answered more after END");
      return out;
    }
    const m = /^VALUE (\S+) (\d+) (\d+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`memcached answered: ${line.slice(0, 200)}`);
    const key = m[1] ?? "";
    if (!asked.has(key)) throw new Error(`memcached answered for key ${key}, which was not asked for`);
    const bytes = Number(m[3]);
    const start = nl + 2;
    const end = start + bytes;
    if (buf.length < end + 2 || buf[end] !== 0x0d || buf[end + 1] !== 0x0a) {
      throw new Error(`incomplete memcached answer for ${key}: expected ${bytes} bytes and CR LF`);
    }
    // defined, not assigned: a key named __proto__ stays a key
    Object.defineProperty(out, key, {
      value: buf.subarray(start, end).toString("utf8"),
      enumerable: true,
      writable: true,
      configurable: true,
    });
    pos = end + 2;
  }
}

// ------------------------------------------------------------------------------------- nginx

/** The rendered nginx.conf, bind-mounted into the balancer container. */
export const NGINX_CONF = `${CONTAINER.nginxConfigDir}/nginx.conf`;
export const NGINX_TEST_ARGS: readonly string[] = ["nginx", "-t", "-q", "-c", NGINX_CONF];
export const NGINX_RELOAD_ARGS: readonly string[] = ["nginx", "-s", "reload", "-c", NGINX_CONF];

/** The title of a worker that accepts connections; an old-generation one is retitled "… is shutting down". */
export const ACCEPTING_WORKER_TITLE = "nginx: worker process";

/**
 * bash inside the balancer container: each child of nginx's master, which is the container's
 * PID 1 (`docker exec` processes have parent 0 there), as `<pid> <title>` a line; the title is
 * the first NUL-terminated string of /proc/<pid>/cmdline, which nginx overwrites with it.
 */
export function nginxWorkersScript(master: number | string = 1): string {
  return [
    ...(typeof master === "string" ? [`m=$(cat ${master}) || exit 1`] : []),
    "for f in /proc/[0-9]*/stat; do",
    '  read -r l 2>/dev/null < "$f" || continue',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion, not a JS template
    "  set -- ${l##*) }",
    `  [ "$2" = ${typeof master === "string" ? '"$m"' : master} ] || continue`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion, not a JS template
    "  p=${f#/proc/}; p=${p%/stat}",
    "  t=",
    '  IFS= read -r -d "" t 2>/dev/null < "/proc/$p/cmdline"',
    '  printf "%s %s\\n" "$p" "$t"',
    "done",
  ].join("\n");
}

export const NGINX_WORKERS_SCRIPT = nginxWorkersScript();

/**
 * `<pid> <title>` lines → nginx's workers (other children, such as a cache manager or a worker
 * that already exited, are left out); accepting when the title is exactly "nginx: worker process".
 */
export function parseWorkers(stdout: string): NginxWorker[] {
  const workers: NginxWorker[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^(\d+) (.*)$/.exec(line.replace(/\r$/, ""));
    if (!m) continue;
    const title = (m[2] ?? "").trimEnd();
    if (!title.startsWith(ACCEPTING_WORKER_TITLE)) continue;
    workers.push({ pid: Number(m[1]), accepting: title === ACCEPTING_WORKER_TITLE });
  }
  return workers;
}
