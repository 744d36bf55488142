/**
 * Broken topologies and the problems `validate` must report for each: line, field path and a
 * fragment of the message. Used by the loader unit tests and by the CLI end-to-end test.
 */
export interface ExpectedIssue {
  line: number;
  path: string;
  message: string | RegExp;
}

export interface BrokenCase {
  name: string;
  yaml: string;
  issues: ExpectedIssue[];
}

export const BROKEN_CASES: BrokenCase[] = [
  {
    name: "malformed YAML (unclosed flow sequence)",
    yaml: "name: shop\nbalancer:\n  port: [8080\n",
    issues: [{ line: 4, path: "", message: /YAML syntax/ }], // the parser notices at the end of input
  },
  {
    name: "malformed YAML (bad indentation)",
    yaml: "name: shop\nbalancer:\n  port: 8080\n bind: 127.0.0.1\n",
    issues: [{ line: 4, path: "", message: /YAML syntax/ }],
  },
  {
    name: "duplicate key",
    yaml: "name: shop\nname: other\n",
    issues: [{ line: 2, path: "name", message: 'duplicate key "name" (it is already set on line 1' }],
  },
  {
    name: "a tab indent is one problem, not one per line after it",
    yaml: "name: shop\nbalancer:\n\tport: 8080\n  bind: 127.0.0.1\n  strategy: sticky\n  maxFails: 1\n",
    issues: [{ line: 3, path: "", message: "a tab indents this line; YAML indents with spaces only" }],
  },
  {
    name: "a tab indent and a duplicate key further down: both, once each",
    yaml: "name: shop\nbalancer:\n\tport: 8080\n  bind: 127.0.0.1\nmemcached:\n  nodes: 1\n  nodes: 2\n",
    issues: [
      { line: 3, path: "", message: /a tab indents this line/ },
      { line: 7, path: "memcached.nodes", message: 'duplicate key "nodes" (it is already set on line 6' },
    ],
  },
  {
    name: "wrong type: a whole number given as a fraction",
    yaml: "name: shop\nbalancer:\n  port: 8080.5\n",
    issues: [
      { line: 3, path: "balancer.port", message: "expected a whole number from 1 to 65535, got 8080.5" },
    ],
  },
  {
    name: "wrong type: memcached nodes as a word",
    yaml: "name: shop\nmemcached:\n  nodes: two\n",
    issues: [{ line: 3, path: "memcached.nodes", message: 'expected a number from 1 to 16, got "two"' }],
  },
  {
    name: "wrong type: a section given as a number",
    yaml: "name: shop\napp: 3\n",
    issues: [{ line: 2, path: "app", message: "expected a mapping of keys, got 3" }],
  },
  {
    name: "empty document",
    yaml: "# nothing here\n",
    issues: [{ line: 1, path: "", message: "the topology is empty" }],
  },
  {
    name: "top level is a list",
    yaml: "- name: shop\n",
    issues: [{ line: 1, path: "", message: /must be a mapping/ }],
  },
  {
    name: "missing name",
    yaml: "balancer:\n  port: 8080\n",
    issues: [{ line: 1, path: "name", message: "name is required" }],
  },
  {
    name: "wrong type: port as a string",
    yaml: "name: shop\nbalancer:\n  port: eighty\n",
    issues: [{ line: 3, path: "balancer.port", message: 'expected a number from 1 to 65535, got "eighty"' }],
  },
  {
    name: "wrong type: replicas as a list",
    yaml: "name: shop\napp:\n  replicas: [1, 2]\n",
    issues: [{ line: 3, path: "app.replicas", message: "expected a number from 1 to 32, got a list" }],
  },
  {
    name: "wrong type: locking as a string",
    yaml: "name: shop\nsessions:\n  locking: maybe\n",
    issues: [{ line: 3, path: "sessions.locking", message: 'expected true or false, got "maybe"' }],
  },
  {
    name: "unknown top-level key",
    yaml: "name: shop\nloadbalancer:\n  port: 8080\n",
    issues: [{ line: 2, path: "loadbalancer", message: /unknown key "loadbalancer"/ }],
  },
  {
    name: "misspelt key with a suggestion",
    yaml: "name: shop\nbalancer:\n  prot: 8080\n",
    issues: [{ line: 3, path: "balancer.prot", message: 'unknown key "prot"; did you mean "port"?' }],
  },
  {
    name: "misspelt nested key with a suggestion",
    yaml: "name: shop\nsessions:\n  cookie:\n    httponly: true\n",
    issues: [{ line: 4, path: "sessions.cookie.httponly", message: 'did you mean "httpOnly"?' }],
  },
  {
    name: "misspelt enum value",
    yaml: "name: shop\nbalancer:\n  strategy: round-robbin\n",
    issues: [{ line: 3, path: "balancer.strategy", message: 'did you mean "round-robin"?' }],
  },
  {
    name: "name with upper case and a semicolon",
    yaml: "name: Shop;rm\n",
    issues: [{ line: 1, path: "name", message: /must match \[a-z\]/ }],
  },
  {
    name: "name with a brace",
    yaml: "name: 'shop{'\n",
    issues: [{ line: 1, path: "name", message: /must match/ }],
  },
  {
    name: "name with a newline",
    yaml: 'name: "shop\\nserver { listen 80; }"\n',
    issues: [{ line: 1, path: "name", message: /must match/ }],
  },
  {
    name: "name with a quote",
    yaml: "name: 'sh\"op'\n",
    issues: [{ line: 1, path: "name", message: /must match/ }],
  },
  {
    name: "port 0",
    yaml: "name: shop\nbalancer:\n  port: 0\n",
    issues: [{ line: 3, path: "balancer.port", message: "expected a number from 1 to 65535, got 0" }],
  },
  {
    name: "port 70000",
    yaml: "name: shop\nbalancer:\n  port: 70000\n",
    issues: [{ line: 3, path: "balancer.port", message: "expected a number from 1 to 65535, got 70000" }],
  },
  {
    name: "app.replicas 0",
    yaml: "name: shop\napp:\n  replicas: 0\n",
    issues: [{ line: 3, path: "app.replicas", message: "expected a number from 1 to 32, got 0" }],
  },
  {
    name: "app.replicas 33",
    yaml: "name: shop\napp:\n  replicas: 33\n",
    issues: [{ line: 3, path: "app.replicas", message: "expected a number from 1 to 32, got 33" }],
  },
  {
    name: "memcached replicas equal to nodes",
    yaml: "name: shop\nsessions:\n  replicas: 2\nmemcached:\n  nodes: 2\n",
    issues: [{ line: 3, path: "sessions.replicas", message: "must be lower than memcached.nodes (2)" }],
  },
  {
    name: "memcached replicas above nodes",
    yaml: "name: shop\nsessions:\n  replicas: 1\n",
    issues: [{ line: 3, path: "sessions.replicas", message: "must be lower than memcached.nodes (1)" }],
  },
  {
    name: "ini value with a semicolon",
    yaml: "name: shop\napp:\n  ini:\n    memory_limit: 256M; session.save_handler = files\n",
    issues: [{ line: 4, path: "app.ini.memory_limit", message: /could inject ini text/ }],
  },
  {
    name: "ini value with a brace",
    yaml: "name: shop\napp:\n  ini:\n    error_log: '${HOME}/x'\n",
    issues: [{ line: 4, path: "app.ini.error_log", message: /could inject ini text/ }],
  },
  {
    name: "ini value with a newline",
    yaml: 'name: shop\napp:\n  ini:\n    memory_limit: "256M\\nextension=evil.so"\n',
    issues: [{ line: 4, path: "app.ini.memory_limit", message: /could inject ini text/ }],
  },
  {
    name: "ini value with a quote",
    yaml: "name: shop\napp:\n  nodes:\n    app1:\n      ini:\n        date.timezone: 'Europe/\"Paris'\n",
    issues: [{ line: 6, path: 'app.nodes.app1.ini["date.timezone"]', message: /could inject ini text/ }],
  },
  {
    name: "ini directive name with a space",
    yaml: 'name: shop\napp:\n  ini:\n    "memory limit": 256M\n',
    issues: [{ line: 4, path: 'app.ini["memory limit"]', message: "is not a php.ini directive name" }],
  },
  {
    name: "override for a node that does not exist",
    yaml: "name: shop\napp:\n  replicas: 2\n  nodes:\n    app3:\n      ini: {}\n",
    issues: [{ line: 5, path: "app.nodes.app3", message: 'there is no app node "app3"' }],
  },
  {
    name: "lifetime over 30 days",
    yaml: "name: shop\nsessions:\n  lifetime: 2592001\n",
    issues: [{ line: 3, path: "sessions.lifetime", message: /over 30 days/ }],
  },
  {
    name: "duration that does not parse",
    yaml: "name: shop\nbalancer:\n  connectTimeout: 1 second\n",
    issues: [{ line: 3, path: "balancer.connectTimeout", message: /is not a duration/ }],
  },
  {
    name: "duration as a bare number",
    yaml: "name: shop\nbalancer:\n  readTimeout: 30\n",
    issues: [
      {
        line: 3,
        path: "balancer.readTimeout",
        message: "expected a duration such as 500ms, 2s or 1m, got 30",
      },
    ],
  },
  {
    name: "lock expiry under a second",
    yaml: "name: shop\nsessions:\n  lockExpire: 500ms\n",
    issues: [{ line: 3, path: "sessions.lockExpire", message: /whole number of seconds/ }],
  },
  {
    name: "bind that is not an address",
    yaml: "name: shop\nbalancer:\n  bind: 'localhost; rm -rf /'\n",
    issues: [{ line: 3, path: "balancer.bind", message: /is not an IP address/ }],
  },
  {
    name: "session name that would break the nginx variable",
    yaml: "name: shop\nsessions:\n  name: PHP-SESS\n",
    issues: [{ line: 3, path: "sessions.name", message: /letters and digits/ }],
  },
  {
    name: "SameSite None without Secure",
    yaml: "name: shop\nsessions:\n  cookie:\n    sameSite: None\n",
    issues: [{ line: 4, path: "sessions.cookie.sameSite", message: /needs sessions.cookie.secure/ }],
  },
  {
    name: "image reference with a shell metacharacter",
    yaml: "name: shop\nimages:\n  base: 'debian:trixie; curl x|sh'\n",
    issues: [{ line: 3, path: "images.base", message: /not a Docker image reference/ }],
  },
  {
    name: "document root with a dollar sign",
    yaml: "name: shop\napp:\n  root: ./public$HOME\n",
    issues: [{ line: 3, path: "app.root", message: /may not contain/ }],
  },
  {
    name: "an extension no Debian package provides",
    yaml: "name: shop\napp:\n  extensions:\n    - mbstring\n    - mbstrng\n    - frobnicate\n",
    issues: [
      {
        line: 5,
        path: "app.extensions[1]",
        message: 'no Debian package provides a PHP extension "mbstrng"; did you mean "mbstring"?',
      },
      {
        line: 6,
        path: "app.extensions[2]",
        message: 'no Debian package provides a PHP extension "frobnicate"',
      },
    ],
  },
  {
    name: "a TLS certificate without its key",
    yaml: "name: shop\nbalancer:\n  tls:\n    certificate: ./cert.pem\n",
    issues: [{ line: 4, path: "balancer.tls.key", message: /certificate and key come together/ }],
  },
  {
    name: "HTTP and HTTPS on one port",
    yaml: "name: shop\nbalancer:\n  port: 9000\n  tls:\n    port: 9000\n",
    issues: [{ line: 5, path: "balancer.tls.port", message: /HTTP and HTTPS need a port each/ }],
  },
  {
    name: "tls is neither a flag nor a mapping",
    yaml: "name: shop\nbalancer:\n  tls: yes please\n",
    issues: [{ line: 3, path: "balancer.tls", message: /must be true, false or a mapping/ }],
  },
  {
    name: "a sticky cookie name that would inject config",
    yaml: 'name: shop\nbalancer:\n  stickyCookie: "x; return 200"\n',
    issues: [{ line: 3, path: "balancer.stickyCookie", message: /must be letters and digits/ }],
  },
  {
    name: "native: tls.port among the nodes' ports",
    yaml: "name: shop\nruntime: native\nbalancer:\n  port: 9000\n  tls:\n    port: 9002\n",
    issues: [{ line: 6, path: "balancer.tls.port", message: /include tls.port 9002/ }],
  },
  {
    name: "several problems at once",
    yaml: [
      "name: Bad_Name",
      "balancer:",
      "  port: 0",
      "  strategy: sticki",
      "app:",
      "  replicas: 40",
      "sessions:",
      "  replicas: 3",
      "  lockExpire: 0s",
      "memcached:",
      "  nodes: 2",
      "  memroy: 64",
      "",
    ].join("\n"),
    issues: [
      { line: 1, path: "name", message: /must match/ },
      { line: 3, path: "balancer.port", message: "expected a number from 1 to 65535, got 0" },
      { line: 4, path: "balancer.strategy", message: 'did you mean "sticky"?' },
      { line: 6, path: "app.replicas", message: "expected a number from 1 to 32, got 40" },
      { line: 8, path: "sessions.replicas", message: "must be lower than memcached.nodes (2)" },
      { line: 9, path: "sessions.lockExpire", message: /whole number of seconds/ },
      { line: 12, path: "memcached.memroy", message: 'did you mean "memory"?' },
    ],
  },
  {
    name: "images.registry with a scheme (it would reach docker push and the stack file)",
    yaml: "name: shop\nimages:\n  registry: https://reg.example.com/team\n",
    issues: [{ line: 3, path: "images.registry", message: /no tag, no scheme/ }],
  },
  {
    name: "images.registry with a tag, or text that would break out of the stack file",
    yaml: 'name: shop\nimages:\n  registry: "reg:5000/x\\nimage: evil"\n',
    issues: [{ line: 3, path: "images.registry", message: /must be a registry and path/ }],
  },
  {
    name: "swarm.encrypted not a boolean",
    yaml: "name: shop\nswarm:\n  encrypted: maybe\n",
    issues: [{ line: 3, path: "swarm.encrypted", message: /expected true or false/ }],
  },
  {
    name: "swarm runtime with the balancer on loopback (Swarm's host-mode ports bind every address)",
    yaml: "name: shop\nruntime: swarm\nbalancer:\n  bind: 127.0.0.1\n",
    issues: [{ line: 4, path: "balancer.bind", message: /write balancer.bind: 0.0.0.0/ }],
  },
];
