import { z } from "zod";
import { parseDuration } from "./duration.js";

/**
 * The v1 topology contract (see DESIGN.md). Every field carries its default and a description;
 * the JSON Schema in `schema/phpcluster.schema.json` is generated from this file.
 * Values that end up in nginx.conf, php.ini, httpd.conf or the Compose file are restricted
 * here, before they can reach a template.
 */

/** images.base when the topology does not say. */
export const DEFAULT_BASE_IMAGE = "debian:trixie-slim";
export const CLUSTER_NAME_RE = /^[a-z][a-z0-9-]{0,30}$/;
/** php.ini directive names: `memory_limit`, `session.save_handler`, `opcache.enable_cli`. */
export const INI_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*$/;
/**
 * Characters an ini value may not carry: they would end the value, start a comment, open a
 * section, interpolate a variable (`${...}`) or break out of the quoting we render.
 */
export const INI_VALUE_FORBIDDEN_RE = /[\0-\u001f\u007f;"'{}$\\`]/;
/** A session cookie name becomes the nginx variable `$cookie_<name>`: letters and digits only. */
export const SESSION_NAME_RE = /^[A-Za-z][A-Za-z0-9]{0,63}$/;
export const EXTENSION_NAME_RE = /^[a-z][a-z0-9_]{0,63}$/;
/** A Docker image reference: `debian:trixie-slim`, `local/phpbase:bookworm`, `reg:5000/x/y@sha256:...` */
export const IMAGE_RE =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
/** A registry and repository path, without a tag: `10.77.0.11:5000/phpcluster`, `registry.example.com/team` (or empty). */
export const REGISTRY_RE =
  /^(?:[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)?$/;
/** Paths that reach Compose or Apache: no control characters, quotes, `$` or backslashes. */
const PATH_FORBIDDEN_RE = /[\0-\u001f\u007f"'$`\\]/;

/** The duration fields' string schemas (so messages can say "a duration" rather than "a string"). */
export const DURATION_SCHEMAS = new WeakSet<object>();

function duration(description: string, defaultValue: string) {
  const text = z.string().refine((value) => parseDuration(value) !== undefined, {
    error: (issue) =>
      `"${String(issue.input)}" is not a duration: use a number with ms, s, m or h (500ms, 2s, 1m)`,
  });
  DURATION_SCHEMAS.add(text);
  return text.default(defaultValue).describe(description);
}

const iniValue = z
  .union([z.string(), z.number(), z.boolean()], {
    error: "a php.ini value must be a string, a number or a boolean",
  })
  .refine((value) => typeof value !== "string" || !INI_VALUE_FORBIDDEN_RE.test(value), {
    error: (issue) =>
      `php.ini value ${JSON.stringify(issue.input)} contains a character that could inject ini text ` +
      "(a quote, ;, {, }, $, a backslash, a backquote, a newline or another control character)",
  });

const iniMap = (description: string) =>
  z
    .record(
      z.string().regex(INI_KEY_RE, {
        error: (issue) => `"${String(issue.input)}" is not a php.ini directive name`,
      }),
      iniValue,
    )
    .default({})
    .describe(description);

const port = (description: string, defaultValue: number) =>
  z.number().int().min(1).max(65535).default(defaultValue).describe(description);

const filePath = (description: string) =>
  z
    .string()
    .min(1)
    .refine((p) => !PATH_FORBIDDEN_RE.test(p), {
      error: "the path may not contain quotes, $, backslashes or control characters",
    })
    .optional()
    .describe(description);

export const tlsSchema = z
  .strictObject({
    port: port("Host port where HTTPS is served.", 8443),
    certificate: filePath("PEM certificate (with its chain), relative to the topology file; with key."),
    key: filePath("PEM private key of the certificate, relative to the topology file; with certificate."),
    hsts: z
      .boolean()
      .default(false)
      .describe("Send Strict-Transport-Security (off by default: it sticks in browsers for a year)."),
  })
  .describe("HTTPS at the balancer.");

export const balancerSchema = z
  .strictObject({
    port: port("Host port where the cluster is served.", 8080),
    bind: z
      .union([z.ipv4(), z.ipv6()], {
        error: (i) => `"${String(i.input)}" is not an IP address (use 127.0.0.1, 0.0.0.0 or ::1)`,
      })
      .default("127.0.0.1")
      .describe("Host address the balancer binds to. Publishing on 0.0.0.0 must be written explicitly."),
    strategy: z
      .enum(["sticky", "round-robin", "least-conn"])
      .default("sticky")
      .describe(
        "sticky: consistent hash of the session cookie (OSS nginx before 1.29.6 has no `sticky`); round-robin; least-conn.",
      ),
    connectTimeout: duration("proxy_connect_timeout: a killed container black-holes connects.", "1s"),
    readTimeout: duration("proxy_read_timeout: a hung backend only fails here.", "30s"),
    maxFails: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(1)
      .describe("max_fails of every upstream server (0 disables the accounting)."),
    failTimeout: duration("fail_timeout of every upstream server.", "10s"),
    stickyCookie: z
      .string()
      .regex(SESSION_NAME_RE, {
        error: (i) => `cookie name "${String(i.input)}" must be letters and digits, starting with a letter`,
      })
      .optional()
      .describe(
        "The cookie `sticky` hashes on (default: sessions.name). Set it when the application renames its session (session_name('X')): hashing on a cookie no request carries is round robin.",
      ),
    tls: z
      .union([z.boolean(), tlsSchema], {
        error: "must be true, false or a mapping (port, certificate, key, hsts)",
      })
      .optional()
      .describe(
        "HTTPS at the balancer. true or a mapping turns it on: HTTP on balancer.port then redirects to HTTPS on tls.port. Without certificate and key, a development certificate is made, signed by a local CA you can trust.",
      ),
  })
  .describe("The nginx load balancer (node `lb`).");

export const appNodeOverrideSchema = z.strictObject({
  ini: iniMap("php.ini directives for this node only, merged last."),
});

export const appSchema = z
  .strictObject({
    replicas: z.number().int().min(1).max(32).default(2).describe("Number of app nodes, named app1..appN."),
    root: z
      .string()
      .min(1)
      .refine((p) => !PATH_FORBIDDEN_RE.test(p), {
        error: "the document root path may not contain quotes, $, backslashes or control characters",
      })
      .default("./public")
      .describe("Document root served by every app node, relative to the topology file."),
    ini: iniMap("Extra php.ini directives for every app node."),
    extensions: z
      .array(
        z.string().regex(EXTENSION_NAME_RE, {
          error: (i) => `"${String(i.input)}" is not a PHP extension name`,
        }),
      )
      .default([])
      .describe(
        "PHP extensions the application needs beyond the distribution's own set (which every app node has, OPcache included, plus memcached with igbinary and msgpack): images install their Debian packages (mbstring: php-mbstring, pdo_sqlite: php-sqlite3, ...); the native runtime needs them installed (phpcluster doctor --install).",
      ),
    nodes: z
      .record(z.string(), appNodeOverrideSchema)
      .default({})
      .describe("Per-node overrides keyed by node name (app1..appN)."),
  })
  .describe("The Apache + mod_php app nodes.");

export const sessionsSchema = z
  .strictObject({
    name: z
      .string()
      .regex(SESSION_NAME_RE, {
        error: (i) => `session name "${String(i.input)}" must be letters and digits, starting with a letter`,
      })
      .default("PHPSESSID")
      .describe("session.name, the session cookie."),
    lifetime: z
      .number()
      .int()
      .min(1)
      .default(1440)
      .describe("session.gc_maxlifetime in seconds, which is the Memcached TTL."),
    locking: z.boolean().default(true).describe("memcached.sess_locking."),
    lockExpire: duration(
      "memcached.sess_lock_expire: bounds a lock orphaned by a killed node (whole seconds).",
      "5s",
    ),
    replicas: z
      .number()
      .int()
      .min(0)
      .max(15)
      .default(0)
      .describe("memcached.sess_number_of_replicas; > 0 needs memcached.nodes > replicas."),
    cookie: z
      .strictObject({
        secure: z.boolean().default(false).describe("session.cookie_secure (set it when clients use HTTPS)."),
        httpOnly: z.boolean().default(true).describe("session.cookie_httponly."),
        sameSite: z.enum(["Strict", "Lax", "None"]).default("Lax").describe("session.cookie_samesite."),
      })
      .prefault({})
      .describe("Session cookie flags."),
  })
  .describe("PHP sessions stored in Memcached.");

export const memcachedSchema = z
  .strictObject({
    nodes: z
      .number()
      .int()
      .min(1)
      .max(16)
      .default(1)
      .describe("Number of Memcached nodes, named memcached1..memcachedN."),
    memory: z.number().int().min(1).max(65536).default(64).describe("Memory per node, in MB."),
  })
  .describe("The Memcached session store.");

export const imagesSchema = z
  .strictObject({
    base: z
      .string()
      .regex(IMAGE_RE, { error: (i) => `"${String(i.input)}" is not a Docker image reference` })
      .default(DEFAULT_BASE_IMAGE)
      .describe(
        "Image the Dockerfiles are rendered FROM; Debian's packages supply apache2, libapache2-mod-php, php-memcached, memcached and nginx.",
      ),
    registry: z
      .string()
      .regex(REGISTRY_RE, {
        error: (i) =>
          `images.registry ${JSON.stringify(i.input)} must be a registry and path such as 10.77.0.11:5000/phpcluster or registry.example.com/team (no tag, no scheme)`,
      })
      .default("")
      .describe(
        "swarm: where the images are pushed and pulled from (host[:port]/path); required when the swarm has more than one node.",
      ),
  })
  .describe("Images for the compose and swarm runtimes.");

export const swarmSchema = z
  .strictObject({
    encrypted: z
      .boolean()
      .default(true)
      .describe(
        "The overlay network is encrypted (IPsec between hosts); a kernel without IPsec (esp4, AES-GCM) carries nothing across hosts: set false there.",
      ),
  })
  .describe("The swarm runtime.");

export const topologySchema = z
  .strictObject({
    $schema: z.string().optional().describe("Path or URL of this JSON Schema, for editors."),
    name: z
      .string({ error: "name is required: [a-z][a-z0-9-]{0,30}" })
      .regex(CLUSTER_NAME_RE, {
        error: (i) =>
          `name ${JSON.stringify(i.input)} must match [a-z][a-z0-9-]{0,30} (lower-case letters, digits, dashes)`,
      })
      .describe("Cluster name: Compose project name and state folder name."),
    runtime: z
      .enum(["auto", "compose", "native", "swarm"])
      .default("auto")
      .describe(
        "auto picks compose when a Docker engine answers and has (or can pull) images.base, else native when installed (never swarm); --runtime wins.",
      ),
    balancer: balancerSchema.prefault({}),
    app: appSchema.prefault({}),
    sessions: sessionsSchema.prefault({}),
    memcached: memcachedSchema.prefault({}),
    images: imagesSchema.prefault({}),
    swarm: swarmSchema.prefault({}),
  })
  .describe("A phpcluster topology: nginx load balancer, Apache+mod_php app nodes, Memcached session store.");

/** What the user wrote (after YAML parsing), and what the schema gives back with every default filled. */
export type WrittenTopology = z.input<typeof topologySchema>;
export type ParsedTopology = z.output<typeof topologySchema>;
