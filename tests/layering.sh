#!/bin/sh
# Fails when a source file includes a layer it must not (docs/architecture.md "Layers"):
#   domain/     nothing of CAF, lws, SQLite, storage/, delivery/, actors/, transport/
#   storage/    nothing of CAF, lws, actors/, transport/
#   delivery/   nothing of CAF, lws, SQLite, storage/, actors/, transport/
#   actors/     nothing of transport/ (nor lws)
#   transport/  nothing of actors/, storage/, CAF
# Usage: layering.sh <source root>   |   layering.sh --self-test
set -u

# check <root>: prints every violation, exits 1 when there is one.
check() {
  root=$1
  status=0
  # rule <folder> <extended regex of forbidden include targets> <what the rule says>
  rule() {
    dir=$root/$1
    [ -d "$dir" ] || return 0
    hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($2)" "$dir" \
             --include='*.cpp' --include='*.hpp' --include='*.h' 2>/dev/null)
    if [ -n "$hits" ]; then
      echo "layering: $1/ must not include $3:"
      echo "$hits" | sed "s|^$root/|  |"
      status=1
    fi
  }
  rule domain    'caf/|libwebsockets|sqlite3|storage/|delivery/|actors/|transport/' \
                 'CAF, lws, SQLite, storage/, delivery/, actors/ or transport/'
  rule storage   'caf/|libwebsockets|actors/|transport/' 'CAF, lws, actors/ or transport/'
  rule delivery  'caf/|libwebsockets|sqlite3|storage/|actors/|transport/' \
                 'CAF, lws, SQLite, storage/, actors/ or transport/'
  rule actors    'transport/|libwebsockets' 'transport/ or lws'
  rule transport 'actors/|storage/|caf/' 'actors/, storage/ or CAF'
  return $status
}

if [ "${1:-}" = "--self-test" ]; then
  # A clean tree passes; each forbidden include added to it fails.
  tmp=$(mktemp -d) || exit 2
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/domain" "$tmp/storage" "$tmp/delivery" "$tmp/actors" "$tmp/transport"
  echo '#include "domain/json.hpp"' > "$tmp/actors/a.cpp"
  echo '#include "delivery/outbox.hpp"' > "$tmp/transport/t.cpp"
  check "$tmp" >/dev/null || { echo "self-test: a clean tree was rejected"; exit 1; }
  for bad in 'actors/x.cpp:#include "transport/server.hpp"' \
             'transport/x.hpp:#include "actors/runtime.hpp"' \
             'transport/x.cpp:#include <caf/all.hpp>' \
             'domain/x.cpp:#include <sqlite3.h>' \
             'domain/x.hpp:#include "delivery/outbox.hpp"' \
             'delivery/x.cpp:  #  include <libwebsockets.h>' \
             'storage/x.cpp:#include <caf/actor.hpp>'; do
    file=${bad%%:*}
    line=${bad#*:}
    echo "$line" > "$tmp/$file"
    if check "$tmp" >/dev/null; then
      echo "self-test: '$line' in $file was not rejected"
      exit 1
    fi
    rm "$tmp/$file"
  done
  echo "layering self-test passed"
  exit 0
fi

[ $# -eq 1 ] || { echo "usage: $0 <source root> | --self-test" >&2; exit 2; }
check "$1" && echo "layering: ok"
