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
