<?php
// phpcluster probe endpoint (/.phpcluster/probe.php), served by every app node.
// Copied by phpcluster into the rendered tree: do not edit.
//
// It answers only requests that carry the cluster's probe secret in the X-Phpcluster-Secret
// header; anything else gets a plain 404 that reveals nothing.
//   ?action=ini          the effective session settings of this node, its loaded extensions and
//                        whether OPcache is on (no session is started)
//        &keys=a,b        also these directives (names of letters, digits, dots and underscores)
//   ?action=request      the request as PHP sees it: scheme, HTTPS, host, port, client address
//   ?action=session      (default) start the session, increment a counter, report what happened
//        &nonce=<a-z0-9>  store a marker in the session (1-64 letters or digits)
//        &hold=<ms>       keep the session (and its lock) for 0-30000 ms before saving it
//        &pad=<bytes>     keep this much filler in the session (0-65536), as a real session's size
//        &announce=1      with hold: stream one JSON line naming the node as soon as the lock is
//                         held, then a second line when done (a kill-mid-request test learns
//                         which node holds the lock while the request is still running)

function phpcluster_respond(int $status, array $body): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    header('Cache-Control: no-store');
    echo json_encode($body, JSON_UNESCAPED_SLASHES | JSON_PARTIAL_OUTPUT_ON_ERROR), "\n";
    exit;
}

function phpcluster_loaded_extensions(): array
{
    $names = array_map('strtolower', array_merge(get_loaded_extensions(), get_loaded_extensions(true)));
    $names = array_values(array_unique($names));
    sort($names);
    return $names;
}

function phpcluster_opcache_enabled(): bool
{
    if (!function_exists('opcache_get_status')) {
        return false;
    }
    $status = @opcache_get_status(false);
    return is_array($status) && !empty($status['opcache_enabled']);
}

/** libmemcached's version from its hex constant (0x01000018 is 1.0.18), or null without the extension. */
function phpcluster_libmemcached_version(): ?string
{
    if (!defined('Memcached::LIBMEMCACHED_VERSION_HEX')) {
        return null;
    }
    $hex = sprintf('%08x', constant('Memcached::LIBMEMCACHED_VERSION_HEX'));
    return (int) substr($hex, 0, 2) . '.' . (int) substr($hex, 2, 3) . '.' . (int) substr($hex, 5, 3);
}

/**
 * Each Memcached server of session.save_path with the version it reports ("host:port" => "1.6.18");
 * one that does not answer within half a second is left out.
 */
function phpcluster_memcached_servers(): array
{
    if (!class_exists('Memcached')) {
        return [];
    }
    $m = new Memcached();
    $m->setOption(Memcached::OPT_CONNECT_TIMEOUT, 500);
    $m->setOption(Memcached::OPT_RETRY_TIMEOUT, 1);
    foreach (explode(',', (string) ini_get('session.save_path')) as $entry) {
        $entry = trim(preg_replace('/^PERSISTENT=\S+\s+/', '', trim($entry)) ?? '');
        if (preg_match('/^(.+):(\d+)(?::\d+)?$/D', $entry, $m2) === 1) {
            $m->addServer($m2[1], (int) $m2[2]);
        }
    }
    $versions = $m->getVersion();
    $m->quit();
    if (!is_array($versions)) {
        return [];
    }
    return array_filter($versions, static fn ($v) => is_string($v) && $v !== '255.255.255');
}

$secret = getenv('PHPCLUSTER_PROBE_SECRET');
$given = $_SERVER['HTTP_X_PHPCLUSTER_SECRET'] ?? '';
if (!is_string($secret) || $secret === '' || !is_string($given) || !hash_equals($secret, $given)) {
    http_response_code(404);
    header('Content-Type: text/plain');
    header('Cache-Control: no-store');
    echo "Not Found\n";
    exit;
}

$node = $_SERVER['PHPCLUSTER_NODE'] ?? getenv('PHPCLUSTER_NODE');
if (!is_string($node)) {
    $node = '';
}

$action = $_GET['action'] ?? 'session';

if ($action === 'ini') {
    $ini = [];
    foreach (ini_get_all(null, false) as $key => $value) {
        if (str_starts_with($key, 'session.') || str_starts_with($key, 'memcached.sess_')) {
            $ini[$key] = $value;
        }
    }
    ksort($ini);
    $requested = [];
    foreach (explode(',', (string) ($_GET['keys'] ?? '')) as $key) {
        if (preg_match('/^[A-Za-z_][A-Za-z0-9_.]{0,99}$/D', $key) === 1) {
            $value = ini_get($key);
            $requested[$key] = $value === false ? null : $value;
        }
    }
    phpcluster_respond(200, [
        'node' => $node,
        'ini' => (object) $ini,
        'requested' => (object) $requested,
        'extensions' => [
            'memcached' => extension_loaded('memcached'),
            'igbinary' => extension_loaded('igbinary'),
            'msgpack' => extension_loaded('msgpack'),
        ],
        // every extension, Zend ones (OPcache) included, by lower-case name
        'loaded' => phpcluster_loaded_extensions(),
        'opcache' => phpcluster_opcache_enabled(),
        'loadedIni' => php_ini_loaded_file(),
        'scanned' => php_ini_scanned_files(),
        'versions' => [
            'php' => PHP_VERSION,
            'server' => $_SERVER['SERVER_SOFTWARE'] ?? null,
            'memcached' => phpversion('memcached') ?: null,
            'libmemcached' => phpcluster_libmemcached_version(),
            'memcachedServers' => (object) phpcluster_memcached_servers(),
        ],
    ]);
}

if ($action === 'request') {
    $keys = ['HTTPS', 'REQUEST_SCHEME', 'SERVER_NAME', 'SERVER_PORT', 'HTTP_HOST', 'REMOTE_ADDR',
        'HTTP_X_FORWARDED_PROTO', 'HTTP_X_FORWARDED_HOST', 'HTTP_X_FORWARDED_PORT', 'HTTP_X_FORWARDED_FOR'];
    $server = [];
    foreach ($keys as $key) {
        $server[$key] = isset($_SERVER[$key]) ? (string) $_SERVER[$key] : null;
    }
    phpcluster_respond(200, ['node' => $node, 'server' => $server]);
}

if ($action !== 'session') {
    phpcluster_respond(400, ['node' => $node, 'error' => 'unknown action']);
}

$hold = 0;
if (isset($_GET['hold'])) {
    $raw = $_GET['hold'];
    if (!is_string($raw) || preg_match('/^[0-9]{1,5}$/D', $raw) !== 1 || (int) $raw > 30000) {
        phpcluster_respond(400, ['node' => $node, 'error' => 'hold must be a number of milliseconds from 0 to 30000']);
    }
    $hold = (int) $raw;
}

error_clear_last();
$t0 = microtime(true);
$ok = @session_start();
$lockWaitMs = round((microtime(true) - $t0) * 1000, 1);
if (!$ok) {
    $error = error_get_last();
    phpcluster_respond(503, ['node' => $node, 'error' => $error['message'] ?? 'session_start() failed']);
}

$_SESSION['phpcluster_counter'] = (int) ($_SESSION['phpcluster_counter'] ?? 0) + 1;
$nonce = $_GET['nonce'] ?? null;
if (is_string($nonce) && preg_match('/^[A-Za-z0-9]{1,64}$/D', $nonce) === 1) {
    $_SESSION['phpcluster_nonce'] = $nonce;
}
$pad = $_GET['pad'] ?? null;
if (is_string($pad) && preg_match('/^[0-9]{1,5}$/D', $pad) === 1 && (int) $pad <= 65536) {
    $_SESSION['phpcluster_pad'] = str_repeat('x', (int) $pad);
}
if ($hold > 0 && ($_GET['announce'] ?? '') === '1') {
    http_response_code(200);
    header('Content-Type: application/x-ndjson');
    header('Cache-Control: no-store');
    header('X-Accel-Buffering: no');
    while (ob_get_level() > 0) {
        ob_end_flush();
    }
    echo json_encode(['phase' => 'holding', 'node' => $node, 'sessionId' => session_id(),
        'counter' => $_SESSION['phpcluster_counter'], 'pid' => getmypid()]), "\n";
    flush();
    usleep($hold * 1000);
    $saved = @session_write_close();
    echo json_encode(['phase' => $saved ? 'done' : 'error', 'node' => $node]), "\n";
    exit;
}
if ($hold > 0) {
    usleep($hold * 1000);
}

$sessionId = session_id();
$counter = $_SESSION['phpcluster_counter'];
$storedNonce = $_SESSION['phpcluster_nonce'] ?? null;
// Save (and unlock) before answering, so the next request sees this one's data.
error_clear_last();
if (!@session_write_close()) {
    $error = error_get_last();
    phpcluster_respond(503, ['node' => $node, 'error' => $error['message'] ?? 'session_write_close() failed']);
}

phpcluster_respond(200, [
    'node' => $node,
    'sessionId' => $sessionId,
    'counter' => $counter,
    'nonce' => $storedNonce,
    'pid' => getmypid(),
    'lockWaitMs' => $lockWaitMs,
    'saveHandler' => ini_get('session.save_handler'),
    'savePath' => ini_get('session.save_path'),
]);
