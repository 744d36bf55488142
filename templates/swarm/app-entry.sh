#!/bin/sh
# An app node's entry point on the swarm runtime. Rendered by phpcluster: do not edit.
#
# session.save_path names the memcached nodes, and php-memcached resolves them on every request.
# Swarm's DNS drops a name while its task is not healthy or its host is lost, and a name that does
# not resolve is no server failure to libmemcached: the operation fails instead of moving to the
# replica (measured: the session lock then waits out its retries, ~5 s per request), and during
# the first seconds of a host cut the DNS itself can take seconds to answer. So requests never
# ask the DNS for them: this loop asks it every 0.5 s (`tasks.<node>`, which /etc/hosts does not
# hold) and writes each node's address into /etc/hosts. A node that stops resolving keeps its last
# address (a black hole costs one connect timeout, and a partial view of the swarm cannot split the
# writes); a node never seen yet gets 127.0.0.1, where nothing listens: refused at once, so the
# client moves to the replica.
#
# Each new address is also announced to the node behind it: once it answers there, the key
# phpcluster.view.<this node> is set to that address on it. A memcached node whose new task
# returns waits (its sessions' locks held) until every app node has announced its new address, so
# that no app node still writes to the peers only while another reads the returned copy (stale).
#
# Usage: app-entry.sh "<memcached node>..." <apache2 argument>...
set -eu
nodes=$1
shift

base=$(grep -v '# phpcluster$' /etc/hosts || true)
known=""
address_of() { # the last address known for node $1, or 127.0.0.1
  for kv in $known; do
    case "$kv" in "$1="*) echo "${kv#*=}"; return ;; esac
  done
  echo 127.0.0.1
}
resolve() {
  next=""
  for n in $nodes; do
    was=$(address_of "$n")
    # while Swarm replaces a task both may answer for a moment: keep the address in use if listed
    a=$(getent hosts "tasks.$n" | awk -v was="$was" '{ if ($1 == was) { keep = 1 } if (first == "") first = $1 } END { print keep ? was : first }') || a=""
    [ -n "$a" ] || a=$was
    next="$next $n=$a"
  done
  known=$next
}
write_hosts() {
  {
    printf '%s\n' "$base"
    for kv in $known; do printf '%s\t%s\t# phpcluster\n' "${kv#*=}" "${kv%%=*}"; done
  } >/etc/hosts.phpcluster
  # /etc/hosts is a bind mount: rewrite it in place (a reader that misses a line falls back to DNS)
  cat /etc/hosts.phpcluster >/etc/hosts
}

# a new task's first lookups can come before Swarm's DNS knows the network: wait (at most 10 s)
# until every node resolves, so that the first requests do not find every server refused
i=0
while :; do
  resolve
  case " $known" in *=127.0.0.1*) ;; *) break ;; esac
  i=$((i + 1))
  [ "$i" -lt 40 ] || break
  sleep 0.25
done
# announce() <address>: set phpcluster.view.$PHPCLUSTER_NODE to it on the memcached there (perl-base
# is in every Debian image); fails while nothing answers there yet
port=${PHPCLUSTER_MEMCACHED_PORT:-11211}
announce() {
  perl -MIO::Socket::INET -e '
    my ($addr, $port, $node) = @ARGV;
    my $s = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port, Timeout => 0.3) or exit 1;
    $s->autoflush(1);
    print $s "set phpcluster.view.$node 0 0 " . length($addr) . "\r\n$addr\r\n";
    my $r = <$s>;
    exit(defined $r && $r =~ /^STORED/ ? 0 : 1);
  ' "$1" "$port" "${PHPCLUSTER_NODE:-app}" 2>/dev/null
}
write_hosts
(
  written=$known
  pending=$known
  while :; do
    sleep 0.5
    resolve
    if [ "$known" != "$written" ]; then
      write_hosts
      echo "phpcluster: memcached addresses:$known" >&2
      # the nodes whose address changed are announced to from now on, until they answer
      for kv in $known; do
        case " $written " in *" $kv "*) ;; *) pending="$pending $kv" ;; esac
      done
      written=$known
    fi
    left=""
    for kv in $pending; do
      case " $known " in *" $kv "*) ;; *) continue ;; esac # replaced meanwhile
      [ "${kv#*=}" = 127.0.0.1 ] && continue
      announce "${kv#*=}" || left="$left $kv"
    done
    pending=$left
  done
) &
exec apache2 "$@"
