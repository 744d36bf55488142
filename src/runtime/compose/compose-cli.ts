/**
 * The Docker and Compose command lines of the compose runtime: which Compose is installed
 * (`docker compose`, v2 and later, or the older `docker-compose`, v1), the argument vectors, and
 * parsers for what Docker prints. Every command is an argument array, never a shell string.
 *
 * Containers are found through the labels the engine carries for both Compose generations
 * (`com.docker.compose.project`, `com.docker.compose.service`), with `docker ps` + `docker inspect`:
 * v1 has no `ps --format`, and names containers `<project>_<service>_1` where v2 uses dashes.
 */
import { execa } from "execa";
import { COMPOSE_MEMCACHED_PORT } from "../../render/addresses.js";
import { type ComposeFlavour, detectCompose } from "../doctor.js";
import type { HttpReply, NodeState } from "../driver.js";

export interface ComposeCli extends ComposeFlavour {
  /** v1: the Python docker-compose (1.x); v2: the Go rewrite (2.x and later, plugin or standalone). */
  generation: "v1" | "v2";
}

/** Major version of a `version --short` answer ("1.29.2", "v2.27.0", "5.5.0"). */
export function composeGeneration(version: string): "v1" | "v2" {
  const major = Number.parseInt(version.trim().replace(/^v/i, ""), 10);
  return Number.isFinite(major) && major < 2 ? "v1" : "v2";
}

export function toComposeCli(flavour: ComposeFlavour): ComposeCli {
  return { ...flavour, generation: composeGeneration(flavour.version) };
}

/** `docker compose` first, then `docker-compose` (doctor's detection), with its generation. */
export async function findCompose(): Promise<ComposeCli | undefined> {
  const flavour = await detectCompose();
  return flavour ? toComposeCli(flavour) : undefined;
}

/** The full command: `[...cmd, "-p", project, "-f", file, ...args]`, split into file and arguments. */
export function composeArgv(
  cli: Pick<ComposeCli, "command">,
  project: string,
  composeFile: string,
  args: string[],
): { file: string; args: string[] } {
  const [file, ...sub] = cli.command;
  if (file === undefined) throw new Error("empty compose command");
  return { file, args: [...sub, "-p", project, "-f", composeFile, ...args] };
}

/** Compose subcommands (after `-p project -f file`). */
export const composeArgs = {
  /** v1 builds one service after the other unless told; v2 builds in parallel by itself. */
  build: (cli: Pick<ComposeCli, "generation">, services: string[]) => [
    "build",
    ...(cli.generation === "v1" ? ["--parallel"] : []),
    ...services,
  ],
  /** Create or start one service alone; a stopped container with an unchanged config is just started. */
  upService: (service: string) => ["up", "-d", "--no-deps", "--no-build", service],
  down: (graceSeconds = 5) => ["down", "-v", "--remove-orphans", "-t", String(graceSeconds)],
  stop: (service: string, graceSeconds: number) => ["stop", "-t", String(graceSeconds), service],
  kill: (service: string) => ["kill", "-s", "SIGKILL", service],
} as const;

export const LABEL_PROJECT = "com.docker.compose.project";
export const LABEL_SERVICE = "com.docker.compose.service";
const LABEL_ONEOFF = "com.docker.compose.oneoff";

/** `docker ps` arguments listing the ids of every container of a project (running or not), or of one service. */
export function listContainersArgs(project: string, service?: string): string[] {
  return [
    "ps",
    "-a",
    "-q",
    "--no-trunc",
    "--filter",
    `label=${LABEL_PROJECT}=${project}`,
    ...(service === undefined ? [] : ["--filter", `label=${LABEL_SERVICE}=${service}`]),
  ];
}

/** Ids printed by `docker ps -q`, one a line. */
export function parseIds(stdout: string): string[] {
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^[0-9a-f]{12,64}$/.test(l));
}

export interface ContainerInfo {
  id: string;
  /** Container name without the leading slash (`shop_app1_1` with v1, `shop-app1-1` with v2). */
  name: string;
  project: string;
  service: string;
  /** created | running | paused | restarting | removing | exited | dead */
  status: string;
  pid: number;
  exitCode: number;
  oomKilled: boolean;
  /** starting | healthy | unhealthy; undefined without a healthcheck. */
  health: string | undefined;
  /** Output of the last healthcheck probe, trimmed. */
  healthOutput: string | undefined;
  startedAt: string | undefined;
}

interface InspectJson {
  Id?: string;
  Name?: string;
  State?: {
    Status?: string;
    Pid?: number;
    ExitCode?: number;
    OOMKilled?: boolean;
    StartedAt?: string;
    Health?: { Status?: string; Log?: { Output?: string }[] | null } | null;
  };
  Config?: { Labels?: Record<string, string> | null };
}

/** `docker inspect` output (a JSON array) → the Compose containers in it; one-off (`run`) containers are left out. */
export function parseInspect(stdout: string): ContainerInfo[] {
  const text = stdout.trim();
  if (!text.startsWith("[")) throw new Error(`docker inspect printed no JSON array: ${text.slice(0, 200)}`);
  const items = JSON.parse(text) as InspectJson[];
  const out: ContainerInfo[] = [];
  for (const c of items) {
    const labels = c.Config?.Labels ?? {};
    const service = labels[LABEL_SERVICE];
    if (service === undefined || labels[LABEL_ONEOFF]?.toLowerCase() === "true") continue;
    const log = c.State?.Health?.Log ?? [];
    out.push({
      id: c.Id ?? "",
      name: (c.Name ?? "").replace(/^\//, ""),
      project: labels[LABEL_PROJECT] ?? "",
      service,
      status: c.State?.Status ?? "unknown",
      pid: c.State?.Pid ?? 0,
      exitCode: c.State?.ExitCode ?? 0,
      oomKilled: c.State?.OOMKilled ?? false,
      health: c.State?.Health?.Status || undefined,
      healthOutput: log.length > 0 ? (log[log.length - 1]?.Output ?? "").trim() || undefined : undefined,
      startedAt: c.State?.StartedAt,
    });
  }
  return out;
}

/** When a service has several containers (a leftover of an interrupted run), the running one wins, then the newest. */
export function pickContainer(containers: ContainerInfo[], service: string): ContainerInfo | undefined {
  const mine = containers.filter((c) => c.service === service);
  return mine.sort((a, b) => {
    const running = Number(b.status === "running") - Number(a.status === "running");
    if (running !== 0) return running;
    return (b.startedAt ?? "").localeCompare(a.startedAt ?? "");
  })[0];
}

export interface ContainerState {
  state: NodeState;
  detail?: string | undefined;
  pid?: number | undefined;
}

/** running = running and healthy (or without a healthcheck); unhealthy = running otherwise; stopped = missing or not running. */
export function containerState(c: ContainerInfo | undefined): ContainerState {
  if (c === undefined) return { state: "stopped", detail: "no container" };
  switch (c.status) {
    case "running": {
      if (c.health === undefined || c.health === "healthy")
        return { state: "running", pid: c.pid || undefined };
      const why = c.health === "starting" ? "health: starting" : `health: ${c.health}`;
      return {
        state: "unhealthy",
        pid: c.pid || undefined,
        detail: c.healthOutput && c.health !== "starting" ? `${why} (${firstLine(c.healthOutput)})` : why,
      };
    }
    case "exited":
      return { state: "stopped", detail: `exited (${c.exitCode}${c.oomKilled ? ", out of memory" : ""})` };
    case "created":
      return { state: "stopped", detail: "created, not started" };
    case "paused":
    case "restarting":
      return { state: "unhealthy", detail: c.status, pid: c.pid || undefined };
    default:
      return { state: "stopped", detail: c.status };
  }
}

function firstLine(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * `curl` inside an app container: one GET to the node itself, headers as separate argv elements,
 * no URL globbing, the path sent as given.
 */
export function curlArgs(urlPath: string, headers: Record<string, string>, maxTimeSeconds = 30): string[] {
  if (!/^\/[^\s\x00-\x1f\x7f]*$/.test(urlPath))
    throw new Error(`not a request path: ${JSON.stringify(urlPath)}`);
  const args = ["curl", "-sS", "-i", "-g", "--path-as-is", "--max-time", String(maxTimeSeconds)];
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) throw new Error(`not a header name: ${JSON.stringify(name)}`);
    if (/[\r\n\0]/.test(value)) throw new Error(`header ${name} has a line break in its value`);
    args.push("-H", `${name}: ${value}`);
  }
  args.push(`http://127.0.0.1${urlPath}`);
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

/** Memcached keys read through the runtime: no spaces or control characters, at most 250 bytes. */
export const STORE_KEY_PATTERN = /^[A-Za-z0-9._-]{1,250}$/;

/**
 * bash inside a Memcached container: `get $1` on the node's own port, printed as the protocol
 * answers it (`VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n` or `END\r\n`). The key is the
 * positional argument `$1`, never part of the script. Exit 3: no connection.
 */
export const MEMCACHED_GET_SCRIPT = [
  `exec 3<>/dev/tcp/127.0.0.1/${COMPOSE_MEMCACHED_PORT} || exit 3`,
  'printf "get %s\\r\\n" "$1" >&3',
  "IFS= read -r -t 5 line <&3 || exit 4",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion, not a JS template
  "line=${line%$'\\r'}",
  'printf "%s\\r\\n" "$line"',
  'case "$line" in',
  '  "VALUE "*) set -- $line; head -c $(( $4 + 2 )) <&3 || exit 5; IFS= read -r -t 5 end <&3 || exit 4; printf "%s\\n" "$end" ;;',
  "esac",
].join("\n");

/** The answer to one `get`: the value, or undefined on a miss. Anything else is an error. */
export function parseMemcachedGet(raw: Uint8Array, key: string): string | undefined {
  const buf = Buffer.from(raw);
  const nl = buf.indexOf("\r\n");
  if (nl < 0)
    throw new Error(`incomplete memcached answer: ${JSON.stringify(buf.toString("latin1").slice(0, 120))}`);
  const first = buf.subarray(0, nl).toString("latin1");
  if (first === "END") return undefined;
  const m = /^VALUE (\S+) (\d+) (\d+)(?: \d+)?$/.exec(first);
  if (!m) throw new Error(`memcached answered: ${first.slice(0, 200)}`);
  if (m[1] !== key) throw new Error(`memcached answered for key ${m[1]}, not ${key}`);
  const bytes = Number(m[3]);
  const start = nl + 2;
  const data = buf.subarray(start, start + bytes);
  const trailer = buf.subarray(start + bytes).toString("latin1");
  if (data.length < bytes || !trailer.startsWith("\r\nEND\r\n")) {
    throw new Error(`incomplete memcached answer for ${key}: expected ${bytes} bytes and END`);
  }
  return data.toString("utf8");
}

/**
 * bash inside the balancer container: the pids of nginx's worker processes, the children of the
 * master, which is the container's PID 1 (`docker exec` processes have parent 0 there).
 */
export const NGINX_WORKERS_SCRIPT = [
  "for f in /proc/[0-9]*/stat; do",
  '  read -r l < "$f" 2>/dev/null || continue',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion, not a JS template
  "  set -- ${l##*) }",
  '  [ "$2" = 1 ] || continue',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion, not a JS template
  '  p=${f#/proc/}; echo "${p%/stat}"',
  "done",
].join("\n");

/** Pids, one a line. */
export function parsePids(stdout: string): number[] {
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

/** The last `n` non-empty lines of a text. */
export function lastLines(text: string, n: number): string[] {
  return text
    .split("\n")
    .map((l) => l.replace(/\r$/, ""))
    .filter((l) => l.trim() !== "")
    .slice(-n);
}

/** Does a failed build or up say that an image could not be pulled? */
export function looksLikePullFailure(output: string): boolean {
  return /pull access denied|repository does not exist|manifest (for .* )?(not found|unknown)|no such host|registry-1\.docker\.io|failed to resolve|dial tcp|TLS handshake timeout|i\/o timeout|not found: manifest/i.test(
    output,
  );
}

/**
 * Run `docker ...` bounded; never rejects (the caller reads exitCode). `cleanup: false` on every
 * subprocess of this runtime: execa's exit hook (signal-exit) re-raises SIGINT/SIGTERM when it sees
 * no other listener, which kills the CLI before it can stop what it started; the driver stops its
 * subprocesses itself (cancelSignal).
 */
export function docker(args: string[], opts: { timeoutMs?: number } = {}) {
  return execa("docker", args, {
    reject: false,
    timeout: opts.timeoutMs ?? 30_000,
    stdin: "ignore",
    cleanup: false,
    env: { NO_COLOR: "1" },
  });
}

/** Every Compose container of a project (or of one service), running or not. */
export async function listContainers(project: string, service?: string): Promise<ContainerInfo[]> {
  for (let attempt = 0; ; attempt++) {
    const ps = await docker(listContainersArgs(project, service));
    if (ps.exitCode !== 0) throw new DockerUnavailable((ps.stderr || ps.shortMessage || "").trim());
    const ids = parseIds(ps.stdout);
    if (ids.length === 0) return [];
    const inspect = await docker(["inspect", ...ids]);
    // a container removed between ps and inspect: inspect prints the others and fails; try once more
    if (inspect.exitCode === 0 || attempt > 0) {
      try {
        return parseInspect(inspect.stdout);
      } catch (err) {
        if (attempt > 0) throw new DockerUnavailable((inspect.stderr || (err as Error).message).trim());
      }
    }
  }
}

/** The Docker engine did not answer a command that only reads. */
export class DockerUnavailable extends Error {}
