#!/bin/sh
# The balancer's entry point on the swarm runtime. Rendered by phpcluster: do not edit.
#
# A task that Swarm starts again gets a new address, and Debian's nginx (1.22, 1.26) resolves an
# upstream server's name only when it starts or reloads. So nginx runs with a copy of nginx.conf in
# which every app node's name is replaced by its task's address; this loop resolves the names
# again every 0.5 s (Swarm's DNS at 127.0.0.11, dnsrr services: the task's own address, and no
# entry while the task is not healthy) and reloads nginx when an address changed. A node without
# an address is written `down`; requests go to the others meanwhile.
#
# phpcluster changes the config of a running balancer (a node drained for a restart, put back)
# without a new task: `lb-entry.sh test|push <nginx.conf> <app node>...` with the new nginx.conf on
# stdin: `test` says whether nginx accepts it, `push` makes it the source and reloads nginx.
#
# Usage: lb-entry.sh [test|push] <nginx.conf> <app node>...
set -eu
mode=run
case "$1" in test | push) mode=$1; shift ;; esac
mounted=$1
shift
nodes="$*"
out=/run/phpcluster/nginx.conf
pushed=/run/phpcluster/nginx.pushed.conf
mkdir -p /run/phpcluster
source_conf() { if [ -s "$pushed" ]; then echo "$pushed"; else echo "$mounted"; fi; }

addresses() {
  for n in $nodes; do
    printf '%s=%s ' "$n" "$(getent hosts "$n" | awk '{ print $1; exit }')"
  done
}

# nginx.conf with each `server <node>:<port> ...;  # <node>` line pointed at the node's address
render() {
  awk -v map="$1" '
    BEGIN { n = split(map, kv, " "); for (i = 1; i <= n; i++) { split(kv[i], p, "="); ip[p[1]] = p[2] } }
    /^[ \t]*server [a-z][a-z0-9]*:[0-9]+ / {
      split($2, hp, ":")
      if (hp[1] in ip) {
        line = $0
        if (ip[hp[1]] == "") {
          sub(/server [a-z][a-z0-9]*:/, "server 127.0.0.1:", line)
          if (line !~ / down;/) sub(/;/, " down;", line)
        } else {
          sub(/server [a-z][a-z0-9]*:/, "server " ip[hp[1]] ":", line)
        }
        print line
        next
      }
    }
    { print }
  ' "${2:-$(source_conf)}" >"${3:-$out}.tmp"
  mv "${3:-$out}.tmp" "${3:-$out}"
}

if [ "$mode" != run ]; then
  new=/run/phpcluster/nginx.new.$$
  cat >"$new.src"
  render "$(addresses)" "$new.src" "$new.conf"
  if ! nginx -t -q -c "$new.conf"; then rm -f "$new.src" "$new.conf"; exit 1; fi
  if [ "$mode" = push ]; then
    mv "$new.src" "$pushed"
    mv "$new.conf" "$out"
    kill -HUP "$(cat /run/nginx.pid)"
  fi
  rm -f "$new.src" "$new.conf"
  exit 0
fi

current=$(addresses)
render "$current"
nginx -c "$out" &
pid=$!
trap 'kill -QUIT "$pid" 2>/dev/null; wait "$pid"; exit 0' TERM INT QUIT
while kill -0 "$pid" 2>/dev/null; do
  sleep 0.5
  now=$(addresses)
  if [ "$now" != "$current" ]; then
    render "$now"
    if nginx -t -c "$out" >/dev/null 2>&1; then
      echo "phpcluster: app node addresses changed ($now): reloading nginx" >&2
      kill -HUP "$pid"
      current=$now
    fi
  fi
done
wait "$pid"
