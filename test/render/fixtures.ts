import { checkTopologyText, type Topology } from "../../src/topology/index.js";

/** Topologies the render tests run on, written as users write them. */
export const FIXTURES = {
  defaults: "name: shop\n",
  "round-robin-replicas": `name: rr3
balancer:
  strategy: round-robin
app:
  replicas: 3
  ini:
    memory_limit: 256M
    date.timezone: Europe/Amsterdam
    error_reporting: E_ALL & ~E_DEPRECATED
    session.cookie_path: /shop app
  nodes:
    app2:
      ini:
        display_errors: "On"
        memory_limit: 512M
sessions:
  replicas: 1
memcached:
  nodes: 2
  memory: 128
`,
  "least-conn-public": `name: lc-public
balancer:
  strategy: least-conn
  bind: 0.0.0.0
  port: 9080
  connectTimeout: 500ms
  readTimeout: 1m
  maxFails: 3
  failTimeout: 5s
app:
  replicas: 4
  extensions: [opcache, posix, calendar]
  ini:
    opcache.enable: true
    max_execution_time: 60
sessions:
  name: SHOPSESS
  lifetime: 3600
  locking: false
  lockExpire: 10s
  cookie:
    secure: true
    sameSite: None
memcached:
  nodes: 3
images:
  base: debian:bookworm-slim
`,
  ipv6: `name: v6
balancer:
  bind: "::1"
  port: 8443
`,
  "tls-app-cookie": `name: tls
balancer:
  port: 8080
  stickyCookie: DokuWiki
  tls:
    port: 8443
    certificate: ./certs/cert.pem
    key: ./certs/key.pem
    hsts: true
app:
  replicas: 2
  extensions: [mbstring, pdo_sqlite, dom]
sessions:
  cookie:
    secure: true
`,
} as const;

export type FixtureName = keyof typeof FIXTURES;
export const FIXTURE_NAMES = Object.keys(FIXTURES) as FixtureName[];

export function topologyFrom(text: string): Topology {
  const check = checkTopologyText(text, "t.yml");
  if (check.topology === undefined) {
    throw new Error(`fixture is invalid:\n${check.errors.map((e) => `${e.path}: ${e.message}`).join("\n")}`);
  }
  return check.topology;
}

export function fixture(name: FixtureName): Topology {
  return topologyFrom(FIXTURES[name]);
}

/** app.root as seen from the output directory `.phpcluster/<name>/render` beside the topology file. */
export const ROOT_FROM_OUT = "../../../public";
