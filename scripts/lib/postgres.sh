# shellcheck shell=bash source-path=SCRIPTDIR disable=SC2034
# Throwaway PostgreSQL clusters for the *_pgtest tests; source it, do not run it.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/postgres.sh"
#   trap errand_pg_stop EXIT          # or call errand_pg_stop from your own EXIT trap
#   errand_pg_start || exit 1
#   ctest -L pgtest ...               # sees ERRAND_TEST_PG_URL / _CTL / _DATA
#
# errand_pg_start creates a cluster in a new temporary directory (initdb as the `postgres` user
# via runuser when running as root, as the current user otherwise; superuser `postgres`, trust
# authentication), starts it on a free port (55432 upward) listening on 127.0.0.1 only, and
# exports
#   ERRAND_TEST_PG_URL   postgres://postgres@127.0.0.1:PORT/postgres
#   ERRAND_TEST_PG_CTL   a command prefix running pg_ctl on that cluster, e.g.
#                        `$ERRAND_TEST_PG_CTL restart -m fast -w` (server log kept in its -l file)
#   ERRAND_TEST_PG_DATA  the data directory
# It returns non-zero with a clear message and the server log's tail when the server cannot start
# (leaving nothing behind, and the three variables unset). errand_pg_stop stops the cluster
# (immediate mode) and removes its directory; it is idempotent and safe in traps.
#
# Environment: ERRAND_PG_BINDIR (the PostgreSQL bin directory; default: version 15's, else the
# newest installed), ERRAND_PG_PORT (first port tried, 55432), ERRAND_PG_TMPDIR (parent of the
# temporary directory, default ${TMPDIR:-/tmp}; the postgres user must be able to reach it).

if ! declare -F errand_log >/dev/null; then
  # shellcheck source=common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fi

# Debian packages the PostgreSQL tests need (server binaries, libpq headers).
ERRAND_PG_PACKAGES=(postgresql-15 libpq-dev)

# The directory holding initdb and pg_ctl; empty (and returns 1) when none is installed.
errand_pg_bindir() {
  local dir
  for dir in "${ERRAND_PG_BINDIR:-}" /usr/lib/postgresql/15/bin; do
    [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]] && {
      printf '%s\n' "$dir"
      return 0
    }
  done
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
    sort -V | tail -n 1)
  [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]] && {
    printf '%s\n' "$dir"
    return 0
  }
  dir=$(command -v initdb 2>/dev/null) && dir=$(dirname "$dir") && [[ -x $dir/pg_ctl ]] && {
    printf '%s\n' "$dir"
    return 0
  }
  return 1
}

# True when nothing listens on TCP port $1 (IPv4 or IPv6).
errand_pg_port_free() {
  local port="$1"
  if command -v ss >/dev/null 2>&1; then
    [[ -z $(ss -Htln "( sport = :$port )" 2>/dev/null) ]]
    return
  fi
  ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# Prints the last lines of the server log (and initdb's output) for a failure message.
errand_pg_show_logs() {
  local dir="$1" file
  for file in "$dir/initdb.log" "$dir/pg_ctl.log" "$dir/server.log"; do
    [[ -s $file ]] || continue
    printf -- '--- last lines of %s ---\n' "${file##*/}" >&2
    tail -n 30 "$file" >&2
  done
}

errand_pg_fail() {
  printf 'error: could not start a throwaway PostgreSQL cluster: %s\n' "$1" >&2
  [[ -n ${2:-} ]] && errand_pg_show_logs "$2"
  if [[ -n ${2:-} ]]; then
    rm -rf "$2"
    unset ERRAND_PG_DIR
  fi
  return 1
}

errand_pg_start() {
  if [[ -n ${ERRAND_PG_DIR:-} ]]; then
    errand_warn "errand_pg_start: a cluster is already running in $ERRAND_PG_DIR"
    return 0
  fi
  # Whatever happens, the tests must not reach a server of an outer environment through these.
  unset ERRAND_TEST_PG_URL ERRAND_TEST_PG_CTL ERRAND_TEST_PG_DATA
  local bindir
  bindir=$(errand_pg_bindir) ||
    errand_pg_fail "no PostgreSQL server binaries (initdb, pg_ctl) found; install postgresql-15 or set ERRAND_PG_BINDIR" ||
    return 1

  local as=()
  if [[ $(id -u) -eq 0 ]]; then
    id -u postgres >/dev/null 2>&1 ||
      errand_pg_fail "running as root but there is no 'postgres' user to run the server as (install postgresql-15)" ||
      return 1
    command -v runuser >/dev/null 2>&1 || errand_pg_fail "runuser not found" || return 1
    as=(runuser -u postgres --)
  fi

  local parent="${ERRAND_PG_TMPDIR:-${TMPDIR:-/tmp}}" dir
  dir=$(mktemp -d "$parent/errand-pg.XXXXXX") ||
    errand_pg_fail "mktemp -d in $parent failed" || return 1
  ERRAND_PG_DIR="$dir"  # from now on errand_pg_stop cleans up; not exported (a child shell
  # running errand_pg_stop must not stop our cluster)
  chmod 0755 "$dir"
  mkdir -m 0700 "$dir/data" && mkdir -m 0700 "$dir/sock" && : >"$dir/server.log" ||
    errand_pg_fail "cannot create directories in $dir" "$dir" || return 1
  if ((${#as[@]})); then
    chown -R postgres:postgres "$dir" || errand_pg_fail "chown postgres $dir failed" "$dir" ||
      return 1
    "${as[@]}" test -w "$dir/data" ||
      errand_pg_fail "the postgres user cannot reach $dir (set ERRAND_PG_TMPDIR to a directory it can traverse)" "$dir" ||
      return 1
  fi

  errand_log "PostgreSQL: initdb in $dir/data ($bindir)"
  "${as[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale \
    --no-sync >"$dir/initdb.log" 2>&1 </dev/null ||
    errand_pg_fail "initdb failed" "$dir" || return 1

  local port="${ERRAND_PG_PORT:-55432}" last=$((${ERRAND_PG_PORT:-55432} + 200)) started=0
  for (( ; port < last; port++)); do
    errand_pg_port_free "$port" || continue
    : >"$dir/server.log"
    # pg_ctl passes -o to the server through /bin/sh: quote the socket directory.
    if "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k '$dir/sock' -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" \
      start >"$dir/pg_ctl.log" 2>&1 </dev/null; then
      started=1
      break
    fi
    # Someone took the port between the check and the start: try the next one.
    grep -q 'Address already in use' "$dir/server.log" || break
    errand_warn "PostgreSQL: port $port was taken meanwhile, trying the next one"
  done
  ((started)) || errand_pg_fail "pg_ctl start failed (last port tried: $port)" "$dir" || return 1

  if [[ -x $bindir/pg_isready ]] &&
    ! "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -t 30; then
    "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
    errand_pg_fail "the server started but does not accept connections on 127.0.0.1:$port" \
      "$dir" || return 1
  fi

  export ERRAND_TEST_PG_DATA="$dir/data"
  export ERRAND_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  # -l keeps a restarted server's output in the log, away from the caller's stdout/stderr.
  local ctl="$bindir/pg_ctl -D $dir/data -l $dir/server.log"
  ((${#as[@]})) && ctl="runuser -u postgres -- $ctl"
  export ERRAND_TEST_PG_CTL="$ctl"
  errand_log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') running at $ERRAND_TEST_PG_URL (data $dir/data)"
}

# Stops the cluster started by errand_pg_start and removes its directory; safe to call twice.
# Meant for EXIT traps: from its first line on, INT and TERM are ignored (for the rest of the
# shell's life) so a second signal cannot leave a running server behind.
errand_pg_stop() {
  local dir="${ERRAND_PG_DIR:-}"
  [[ -n $dir ]] || return 0
  trap '' INT TERM  # a Ctrl-C or TERM arriving now must not cut the clean-up short
  if [[ -d $dir/data ]]; then
    local bindir as=()
    [[ $(id -u) -eq 0 ]] && as=(runuser -u postgres --)
    if bindir=$(errand_pg_bindir); then
      "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
        true
    fi
  fi
  rm -rf "$dir"
  unset ERRAND_PG_DIR ERRAND_TEST_PG_URL ERRAND_TEST_PG_CTL ERRAND_TEST_PG_DATA
  return 0
}
