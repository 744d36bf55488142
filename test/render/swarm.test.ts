/** The swarm runtime's rendered stack and configs, and the pure parts of its driver. */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { renderCluster, STACK_FILE_PATH, SWARM_ENV, swarmSubnet } from "../../src/render/index.js";
import {
  currentTask,
  engineMap,
  parseNodes,
  parseTasks,
  type SwarmNode,
  type SwarmTask,
  taskState,
} from "../../src/runtime/swarm/engine.js";
import { imageRef } from "../../src/runtime/swarm/images.js";
import { placeNodes } from "../../src/runtime/swarm/placement.js";
import type { Topology } from "../../src/topology/index.js";
import { ROOT_FROM_OUT, topologyFrom } from "./fixtures.js";

const HA = `name: shop
runtime: swarm
balancer:
  bind: 0.0.0.0
  port: 9080
app:
  replicas: 3
sessions:
  replicas: 1
memcached:
  nodes: 2
images:
  registry: 10.77.0.11:5000/phpcluster
`;

const render = (t: Topology) => renderCluster(t, { target: "swarm", rootFromOut: ROOT_FROM_OUT });
const file = (t: Topology, path: string) => {
  const f = render(t).find((x) => x.path === path);
  if (!f) throw new Error(`${path} not rendered`);
  return f.content;
};
// biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document, probed field by field
type Loose = any;
type Service = Record<string, Loose>;
const stack = (t: Topology) =>
  parseYaml(file(t, STACK_FILE_PATH)) as {
    services: Record<string, Service>;
    networks: Loose;
    configs: Loose;
    secrets: Loose;
  };

describe("the swarm stack", () => {
  const t = topologyFrom(HA);

  it("one service per node, each pinned to its host and started at the replica count phpcluster gives", () => {
    const s = stack(t);
    expect(Object.keys(s.services).sort()).toEqual([
      "app1",
      "app2",
      "app3",
      "lb",
      "memcached1",
      "memcached2",
    ]);
    for (const [node, svc] of Object.entries(s.services)) {
      expect(svc.deploy.replicas).toBe(`\${${SWARM_ENV.replicas(node)}}`);
      expect(svc.deploy.placement.constraints).toEqual([`node.id == \${${SWARM_ENV.host(node)}}`]);
      expect(svc.deploy.endpoint_mode).toBe("dnsrr"); // VIPs need IPVS
      expect(svc.labels).toMatchObject({ "io.phpcluster.cluster": "shop", "io.phpcluster.node": node });
      expect(svc.healthcheck.test[0]).toBe("CMD");
    }
  });

  it("only the balancer is published, in host mode; memcached never", () => {
    const s = stack(t);
    expect(s.services.lb?.ports).toEqual([{ target: 80, published: 9080, protocol: "tcp", mode: "host" }]);
    for (const node of ["app1", "app2", "app3", "memcached1", "memcached2"])
      expect(s.services[node]?.ports).toBeUndefined();
  });

  it("the overlay network is encrypted by default, and not when swarm.encrypted is false", () => {
    expect(stack(t).networks.backend).toMatchObject({ driver: "overlay", driver_opts: { encrypted: "" } });
    const open = stack(topologyFrom(`${HA}swarm:\n  encrypted: false\n`)).networks.backend;
    expect(open.driver).toBe("overlay");
    expect(open.driver_opts).toBeUndefined();
    expect(open.ipam.config[0].subnet).toBe(swarmSubnet(t));
  });

  it("every file a node reads is a config named by its content: a change is a new name", () => {
    const a = stack(t).configs;
    const b = stack(
      topologyFrom(HA.replace("replicas: 3", "replicas: 3\n  ini:\n    memory_limit: 384M")),
    ).configs;
    expect(a.app1_php_ini.name).toMatch(/^shop_app1_php_ini_[0-9a-f]{12}$/);
    expect(b.app1_php_ini.name).not.toBe(a.app1_php_ini.name);
    expect(b.nginx_nginx_conf.name).toBe(a.nginx_nginx_conf.name);
    expect(a.app1_php_ini.file).toBe("./app1/php.ini");
  });

  it("the probe secret is a Swarm secret, never in a rendered file", () => {
    const s = stack(t);
    expect(s.secrets.probe).toEqual({ name: `\${${SWARM_ENV.secretName}}`, file: "../secret" });
    expect(s.services.app1?.secrets).toEqual([expect.objectContaining({ source: "probe" })]);
  });

  it("php.ini and nginx.conf name the nodes (Swarm's DNS), not addresses", () => {
    expect(file(t, "app1/php.ini")).toContain('session.save_path = "memcached1:11211,memcached2:11211"');
    const nginx = file(t, "nginx/nginx.conf");
    expect(nginx).toMatch(/server app1:80 max_fails=/);
    expect(nginx).toContain("swarm runtime");
  });

  it("docker-compose accepts the stack file (schema 3.9) once the variables are set", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "phpcluster-stack-"));
    try {
      const out = path.join(dir, "swarm");
      for (const f of render(t)) {
        mkdirSync(path.dirname(path.join(out, f.path)), { recursive: true });
        writeFileSync(path.join(out, f.path), f.content);
      }
      writeFileSync(path.join(dir, "secret"), "x");
      const env: NodeJS.ProcessEnv = { ...process.env, [SWARM_ENV.secretName]: "s" };
      for (const n of ["app1", "app2", "app3", "lb", "memcached1", "memcached2"]) {
        env[SWARM_ENV.host(n)] = "abc";
        env[SWARM_ENV.replicas(n)] = "1";
      }
      for (const role of ["app", "lb", "memcached"] as const) env[SWARM_ENV.image(role)] = `x/${role}:1`;
      const config = execFileSync("docker-compose", ["-f", path.join(out, STACK_FILE_PATH), "config"], {
        env,
        encoding: "utf8",
      });
      const parsed = parseYaml(config) as { services: Record<string, Service> };
      expect(parsed.services.app1?.deploy.replicas).toBe(1);
      expect(parsed.services.app1?.image).toBe("x/app:1");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const node = (id: string, extra: Partial<SwarmNode> = {}): SwarmNode => ({
  id,
  hostname: `h-${id}`,
  addr: `10.0.0.${id.length}`,
  ready: true,
  active: true,
  manager: false,
  ...extra,
});

describe("placement over the swarm's hosts", () => {
  const t = topologyFrom(HA);

  it("memcached nodes on different hosts, app nodes on more than one, the balancer on the manager phpcluster talks to", () => {
    const p = placeNodes(t, [node("a", { manager: true }), node("b"), node("c")], "b");
    expect(p.hosts.memcached1).not.toBe(p.hosts.memcached2);
    expect(new Set(["app1", "app2", "app3"].map((a) => p.hosts[a])).size).toBeGreaterThan(1);
    expect(p.hosts.lb).toBe("b");
    expect(p.notes).toEqual([]);
  });

  it("drained or down hosts get nothing; a swarm too small says so", () => {
    const p = placeNodes(t, [
      node("a", { manager: true }),
      node("b", { active: false }),
      node("c", { ready: false }),
    ]);
    expect(new Set(Object.values(p.hosts))).toEqual(new Set(["a"]));
    expect(p.notes.join(" ")).toMatch(/share a host/);
    expect(p.notes.join(" ")).toMatch(/one host holds every app node/);
  });
});

describe("reading the swarm", () => {
  it("node inspect: hostname, the address other hosts reach it at, ready and active", () => {
    const nodes = parseNodes(
      JSON.stringify([
        {
          ID: "n1",
          Description: { Hostname: "bed1" },
          Status: { State: "ready", Addr: "0.0.0.0" },
          Spec: { Availability: "active", Role: "manager" },
          ManagerStatus: { Addr: "10.77.0.11:2377" },
        },
        {
          ID: "n2",
          Description: { Hostname: "bed2" },
          Status: { State: "down", Addr: "10.77.0.12" },
          Spec: { Availability: "drain", Role: "worker" },
        },
      ]),
    );
    expect(nodes).toEqual([
      { id: "n1", hostname: "bed1", addr: "10.77.0.11", ready: true, active: true, manager: true },
      { id: "n2", hostname: "bed2", addr: "10.77.0.12", ready: false, active: false, manager: false },
    ]);
  });

  const task = (o: Record<string, unknown>) => ({
    ID: "t1",
    ServiceID: "s1",
    Slot: 1,
    NodeID: "n1",
    DesiredState: "running",
    UpdatedAt: "2026-12-02T10:00:00Z",
    Status: { State: "running", ContainerStatus: { ContainerID: "c1" } },
    Spec: { ContainerSpec: { Labels: { "io.phpcluster.node": "app1" } } },
    NetworksAttachments: [
      { Network: { Spec: { Name: "ingress" } }, Addresses: ["10.0.0.5/24"] },
      { Network: { Spec: { Name: "shop_backend" } }, Addresses: ["10.171.67.6/24"] },
    ],
    ...o,
  });

  it("task inspect: the node, its host, its container and its address on the stack's network", () => {
    const [t] = parseTasks(JSON.stringify([task({})]), "shop");
    expect(t).toMatchObject({
      id: "t1",
      node: "app1",
      nodeId: "n1",
      containerId: "c1",
      address: "10.171.67.6",
      state: "running",
    });
  });

  it("the current task is the newest one Swarm wants running; its state is the node's", () => {
    const tasks = parseTasks(
      JSON.stringify([
        task({
          ID: "old",
          DesiredState: "shutdown",
          UpdatedAt: "2026-12-02T10:00:05Z",
          Status: { State: "failed", Err: "task: non-zero exit (137)" },
        }),
        task({ ID: "new", UpdatedAt: "2026-12-02T10:00:04Z", Status: { State: "starting" } }),
      ]),
      "shop",
    ) as SwarmTask[];
    expect(currentTask(tasks, "app1")?.id).toBe("new");
    expect(taskState(currentTask(tasks, "app1"))).toEqual({ state: "unhealthy", detail: "task starting" });
    expect(taskState(undefined).state).toBe("stopped");
    const stuck = parseTasks(
      JSON.stringify([
        task({
          Status: {
            State: "pending",
            Err: "no suitable node (scheduling constraints not satisfied on 3 nodes)",
          },
        }),
      ]),
      "shop",
    );
    expect(taskState(stuck[0])).toMatchObject({ state: "stopped", failed: true });
  });

  it("PHPCLUSTER_SWARM_ENGINES maps hosts to their engines", () => {
    expect([
      ...engineMap({ PHPCLUSTER_SWARM_ENGINES: "bed1=unix:///tmp/a.sock, bed2=ssh://root@10.0.0.2,bad" }),
    ]).toEqual([
      ["bed1", "unix:///tmp/a.sock"],
      ["bed2", "ssh://root@10.0.0.2"],
    ]);
  });

  it("images are tagged by content, under images.registry", () => {
    const t = topologyFrom(HA);
    expect(imageRef(t, "app", `sha256:${"ab".repeat(32)}`)).toBe(
      "10.77.0.11:5000/phpcluster/phpcluster-shop-app:abababababab",
    );
    expect(imageRef(topologyFrom(HA.replace(/images:\n.*\n/, "")), "lb", "sha256:0123456789abcdef")).toBe(
      "phpcluster-shop-lb:0123456789ab",
    );
  });
});
