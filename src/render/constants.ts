/** Environment variable holding the secret that probe.php requires (compose interpolates it). */
export const PROBE_SECRET_ENV = "PHPCLUSTER_PROBE_SECRET";
/** Request header carrying the probe secret. */
export const PROBE_SECRET_HEADER = "X-Phpcluster-Secret";
/** The probe endpoint on every app node (and through the balancer). */
export const PROBE_PATH = "/.phpcluster/probe.php";
/** The health endpoint on every app node; it never starts a session. */
export const HEALTH_PATH = "/.phpcluster/health.php";
/** nginx stub_status on the balancer, loopback only. */
export const NGINX_STATUS_PATH = "/.phpcluster/nginx_status";

/** memcached.sess_prefix: a session's data key is this + the session id; its lock is this + "lock." + id. */
export const SESSION_KEY_PREFIX = "memc.sess.key.";

/** nginx worker processes of the balancer (each keeps its own cache of idle upstream connections). */
export const NGINX_WORKER_PROCESSES = 2;
/** Apache prefork: the workers of one app node, each serving one connection at a time. */
export const APACHE_MAX_REQUEST_WORKERS = 32;
/** Apache closes a connection idle this long (seconds) between two requests. */
export const APACHE_KEEPALIVE_TIMEOUT_S = 5;
/**
 * Idle upstream connections each nginx worker keeps to the app nodes (`keepalive`). An idle one
 * holds an Apache prefork worker, and another nginx worker's new connection waits in that node's
 * accept queue behind it: sized so that every nginx worker's cache on one node together holds at
 * most a quarter of its workers. Measured (bench/throughput.mjs): 16 per worker gave p99s of ~1 s
 * against ~90 ms with 0 or 4, at the same throughput.
 */
export const NGINX_UPSTREAM_KEEPALIVE = Math.max(
  1,
  Math.floor(APACHE_MAX_REQUEST_WORKERS / (4 * NGINX_WORKER_PROCESSES)),
);
/** nginx drops an idle upstream connection before Apache closes it, so it never reuses one being closed. */
export const NGINX_UPSTREAM_KEEPALIVE_TIMEOUT_S = APACHE_KEEPALIVE_TIMEOUT_S - 1;
