<?php
// phpcluster sample page: a session counter that shows which app node served the request.
// Reload it, then run `phpcluster failover`: the counter keeps counting on another node.
session_start();
$_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;
$node = $_SERVER['PHPCLUSTER_NODE'] ?? getenv('PHPCLUSTER_NODE') ?: 'unknown';
header('Content-Type: text/html; charset=utf-8');
?>
<!doctype html>
<title>phpcluster</title>
<h1>Visit <?= (int) $_SESSION['visits'] ?></h1>
<p>Served by <strong><?= htmlspecialchars($node) ?></strong>,
   session <code><?= htmlspecialchars(session_id()) ?></code>.</p>
