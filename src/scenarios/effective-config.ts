import { parse as parseIni } from "ini";
import {
  type ClusterManifest,
  MANIFEST_PATH,
  PROBE_PATH,
  PROBE_SECRET_HEADER,
  phpIniPath,
} from "../render/index.js";
import { renderFor } from "../runtime/rendered.js";
import { loadedName, REQUIRED_EXTENSIONS } from "../topology/index.js";
import { appNodes, type ScenarioContext, topologyOf } from "./context.js";
import { type Check, type Scenario, timed } from "./report.js";

/** ini values as PHP reports them: On/true/yes → "1", Off/false/no/none → "". */
function normalizeIni(value: unknown): string {
  const text = String(value ?? "")
    .trim()
    .replace(/^"(.*)"$/, "$1");
  const lower = text.toLowerCase();
  if (["on", "true", "yes"].includes(lower)) return "1";
  if (["off", "false", "no", "none"].includes(lower)) return "";
  return text;
}

const COMPARED = [
  "session.save_handler",
  "session.save_path",
  "session.name",
  "session.gc_maxlifetime",
  "session.use_strict_mode",
  "memcached.sess_locking",
  "memcached.sess_lock_expire",
  "memcached.sess_number_of_replicas",
  "memcached.sess_binary_protocol",
  "memcached.sess_remove_failed_servers",
  "memcached.sess_server_failure_limit",
  "memcached.sess_prefix",
];

async function run(ctx: ScenarioContext): Promise<Check[]> {
  const t = topologyOf(ctx);
  // what the running nodes should have: the topology rendered now, in memory
  const files = renderFor(ctx.driver.cluster, t, ctx.driver.name);
  const fileOf = (p: string) => files.find((f) => f.path === p)?.content ?? "";
  const manifest = JSON.parse(fileOf(MANIFEST_PATH)) as ClusterManifest;
  const expectedPath = manifest.nodes
    .filter((n) => n.role === "memcached")
    .map((n) => `${n.host}:${n.port}`)
    .join(",");
  /** What the cluster needs of every node, whatever its own overrides say. */
  const contract: Record<string, string> = {
    "session.save_handler": "memcached",
    "session.save_path": expectedPath,
    "session.name": t.sessions.name,
    "memcached.sess_number_of_replicas": String(t.sessions.replicas),
    "memcached.sess_lock_expire": String(t.sessions.lockExpireMs / 1000),
    "memcached.sess_locking": t.sessions.locking ? "1" : "",
  };
  if (t.sessions.replicas > 0) {
    contract["memcached.sess_binary_protocol"] = "1";
    contract["memcached.sess_remove_failed_servers"] = "1";
    contract["memcached.sess_server_failure_limit"] = "1";
  }
  // every node loads the session handler with its serializers, OPcache, and what the topology asks for
  const needed = [...REQUIRED_EXTENSIONS, "opcache", ...t.app.extensions].map(loadedName);
  const loadedBy: Record<string, string[]> = {};
  const checks: Check[] = [];
  for (const node of appNodes(ctx)) {
    checks.push(
      await timed("effective-config", `effective-config ${node}`, async () => {
        const reply = await ctx.driver.httpGetNode({
          node,
          path: `${PROBE_PATH}?action=ini`,
          headers: { [PROBE_SECRET_HEADER]: ctx.secret },
        });
        if (reply.status !== 200)
          return { ok: false, detail: `the probe on ${node} answered ${reply.status}` };
        const effective = JSON.parse(reply.body) as {
          ini: Record<string, string>;
          loaded?: string[];
          opcache?: boolean;
        };
        const rendered = parseIni(fileOf(phpIniPath(node)));
        const problems: string[] = [];
        const loaded = effective.loaded ?? [];
        loadedBy[node] = loaded;
        const absent = needed.filter((e) => !loaded.includes(e));
        if (absent.length > 0) problems.push(`not loaded: ${absent.join(", ")}`);
        if (!effective.opcache) problems.push("OPcache is off");
        for (const key of COMPARED) {
          if (!(key in rendered)) continue;
          const want = normalizeIni(rendered[key]);
          const got = normalizeIni(effective.ini[key]);
          if (want !== got)
            problems.push(`${key} is "${got}" but the rendered php.ini says "${want}" (drift)`);
        }
        for (const [key, want] of Object.entries(contract)) {
          const got = normalizeIni(effective.ini[key]);
          if (got !== want) problems.push(`${key} is "${got}", the cluster needs "${want}"`);
        }
        return {
          ok: problems.length === 0,
          detail:
            problems.length === 0
              ? `handler memcached, save_path ${expectedPath}, replicas ${t.sessions.replicas}, lock expiry ${t.sessions.lockExpireMs / 1000}s; ${loaded.length} extensions, OPcache on`
              : problems.join("; "),
          data: {
            effective: Object.fromEntries(COMPARED.map((k) => [k, effective.ini[k]])),
            extensions: loaded,
          },
        };
      }),
    );
  }
  checks.push(
    await timed("effective-config", "effective-config extensions", async () => {
      const nodes = Object.keys(loadedBy);
      const reference = loadedBy[nodes[0] ?? ""] ?? [];
      const differ = nodes
        .map((n) => {
          const set = loadedBy[n] ?? [];
          const extra = set.filter((e) => !reference.includes(e));
          const lacks = reference.filter((e) => !set.includes(e));
          return extra.length + lacks.length === 0
            ? undefined
            : `${n} ${[...extra.map((e) => `+${e}`), ...lacks.map((e) => `-${e}`)].join(" ")} against ${nodes[0]}`;
        })
        .filter((d): d is string => d !== undefined);
      return {
        ok: nodes.length > 0 && differ.length === 0,
        detail:
          nodes.length === 0
            ? "no app node answered the probe"
            : differ.length === 0
              ? `every app node loads the same ${reference.length} extensions (${needed.join(", ")} among them)`
              : differ.join("; "),
        data: { extensions: loadedBy },
      };
    }),
  );
  return checks;
}

/**
 * On every app node, the effective session settings (read from PHP itself) equal what the topology
 * renders (drift) and what the cluster needs (the memcached handler, the same save_path, replicas, locks).
 */
export const effectiveConfig: Scenario = { name: "effective-config", readOnly: true, run };
