<?php
// phpcluster health endpoint (/.phpcluster/health.php), served by every app node.
// Copied by phpcluster into the rendered tree: do not edit.
// It never starts a session, so health checks create nothing in Memcached.

$node = $_SERVER['PHPCLUSTER_NODE'] ?? getenv('PHPCLUSTER_NODE');
if (!is_string($node)) {
    $node = '';
}

http_response_code(200);
header('Content-Type: application/json');
header('Cache-Control: no-store');
echo json_encode(['node' => $node, 'ok' => true], JSON_UNESCAPED_SLASHES), "\n";
