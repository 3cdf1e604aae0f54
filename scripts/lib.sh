# shellcheck shell=bash
# shellcheck disable=SC2034  # SB_* globals set here are read by the callers.
# Shared helpers for scripts/run, scripts/test and tests/env/run. Source it, do not run it:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Everything here is idempotent: a second call finds the work done and returns quickly.

# The repository root, whatever the caller's cwd.
SB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Build tree, repo-relative by default; helpers point it elsewhere to keep off build/.
SB_BUILD_DIR="${SB_BUILD_DIR:-build}"
case "$SB_BUILD_DIR" in
  /*) ;;
  *) SB_BUILD_DIR="$SB_ROOT/$SB_BUILD_DIR" ;;
esac
SB_PG_BINDIR="${SB_PG_BINDIR:-/usr/lib/postgresql/15/bin}"
# Role and password of the throwaway PostgreSQL cluster (never a real database).
SB_PG_USER=switchboard
SB_PG_PASSWORD=switchboard

# Debian 12 packages needed to build, run and test Switchboard.
SB_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config g++
  libcaf-dev libboost-dev libboost-system-dev nlohmann-json3-dev libhiredis-dev
  unixodbc unixodbc-dev odbc-postgresql libsqliteodbc
  libspdlog-dev libfmt-dev catch2 libssl-dev libsodium-dev
  postgresql postgresql-client redis-server redis-tools
  wrk curl jq python3
)

# ---------------------------------------------------------------------------------------------
# Logging

_sb_t0="${EPOCHREALTIME:-0}"

# Prints a progress line with the seconds since the script started.
log() {
  printf '[sb %6.1fs] %s\n' "$(_sb_elapsed)" "$*" >&2
}

# Prints a warning line.
warn() {
  printf '[sb] warning: %s\n' "$*" >&2
}

# Prints an error line and exits 1.
die() {
  printf '[sb] error: %s\n' "$*" >&2
  exit 1
}

_sb_elapsed() {
  local now="${EPOCHREALTIME:-0}"
  awk -v a="$_sb_t0" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root for: $* (run as root or install sudo)"
  fi
}

# ---------------------------------------------------------------------------------------------
# Packages

# Installs the packages of SB_PACKAGES that dpkg does not list as installed; apt-get update runs
# once, and only when something is missing. Debian's nodejs/npm come in only if `node` is absent.
ensure_packages() {
  local wanted=("${SB_PACKAGES[@]}")
  if ! command -v node >/dev/null; then
    wanted+=(nodejs npm)
  fi

  local installed missing=() p
  installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null |
    awk '$NF == "installed" { print $1 }')" || true
  for p in "${wanted[@]}"; do
    if ! grep -qxF "$p" <<<"$installed"; then
      missing+=("$p")
    fi
  done

  if ((${#missing[@]} == 0)); then
    log "packages: all ${#wanted[@]} present"
  else
    log "packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    log "packages: installed ${#missing[@]}"
  fi

  ensure_odbc_drivers
}

# Fails with a clear message unless unixODBC knows the drivers our connection strings name.
ensure_odbc_drivers() {
  local d
  for d in "SQLite3" "PostgreSQL Unicode"; do
    if ! odbcinst -q -d -n "$d" >/dev/null 2>&1; then
      die "ODBC driver \"$d\" is not registered in $(odbcinst -j 2>/dev/null |
        sed -n 's/^DRIVERS\.*: *//p'); reinstall libsqliteodbc / odbc-postgresql"
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# Build

# Configures the build tree when it is new or a CMake file changed, then builds the given
# targets (all by default); Ninja skips whatever is current.
ensure_build() {
  local bn="$SB_BUILD_DIR/build.ninja"
  # Paths relative to the repo in ccache's keys let a fresh clone elsewhere (CI) hit the cache.
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$SB_ROOT}"
  export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"

  local stale=""
  if [[ ! -f $bn || ! -f $SB_BUILD_DIR/CMakeCache.txt ]]; then
    stale="no build tree yet"
  elif [[ -n "$(find "$SB_ROOT" \( -path "$SB_BUILD_DIR" -o -path "$SB_ROOT/build*" \
    -o -path "$SB_ROOT/.git" -o -path "$SB_ROOT/var" -o -name node_modules -o -name CMakeFiles \) \
    -prune -o \( -name CMakeLists.txt -o -name '*.cmake' \) -newer "$bn" -print -quit)" ]]; then
    stale="a CMake file changed"
  fi

  if [[ -n $stale ]]; then
    log "build: configuring $SB_BUILD_DIR ($stale)"
    mkdir -p "$SB_BUILD_DIR"
    cmake -S "$SB_ROOT" -B "$SB_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      >"$SB_BUILD_DIR/configure.log" 2>&1 || {
      cat "$SB_BUILD_DIR/configure.log" >&2
      die "cmake configure failed (log: $SB_BUILD_DIR/configure.log)"
    }
  fi

  local jobs="${SB_JOBS:-$(nproc)}"
  log "build: ninja -j$jobs ${*:-all}"
  # --quiet hides the [n/m] lines; compiler errors still print.
  # Build output goes to stderr: stdout belongs to the server's JSON log.
  ninja -C "$SB_BUILD_DIR" -j"$jobs" --quiet "$@" >&2 || die "build failed"
  log "build: up to date"
}

# Installs the integration tests' Node packages when node_modules is missing or older than
# package-lock.json; creates the lock with npm install the first time.
ensure_node_modules() {
  local dir="$SB_ROOT/tests/integration"
  [[ -f $dir/package.json ]] || return 0
  command -v npm >/dev/null || die "npm not found (node: $(command -v node || echo none))"
  if [[ ! -f $dir/package-lock.json ]]; then
    log "npm: install (creating package-lock.json)"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error) || die "npm install failed"
  elif [[ ! -d $dir/node_modules || $dir/package-lock.json -nt $dir/node_modules ]]; then
    log "npm: ci"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
  else
    log "npm: node_modules current"
    return 0
  fi
  # npm may leave the directory's mtime older than the lock; mark it current.
  touch "$dir/node_modules"
}

# ---------------------------------------------------------------------------------------------
# Ports and readiness

# Prints a TCP port on 127.0.0.1 that nothing is bound to, from 20000-32767 (below Linux's
# ephemeral range, so outgoing connections do not take it in the meantime).
find_free_port() {
  local py
  py="$(command -v /usr/bin/python3 || command -v python3 || true)"
  if [[ -n $py ]]; then
    "$py" - <<'EOF'
import random, socket
for _ in range(200):
    port = random.randint(20000, 32767)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("no free port found")
EOF
    return
  fi
  # Fallback without python: a port where a connect is refused has no listener.
  local port i
  for ((i = 0; i < 200; i++)); do
    port=$((20000 + RANDOM % 12768))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}

# wait_until SECONDS WHAT CMD...: runs CMD every 0.1 s until it succeeds (return 0) or the
# deadline passes (die). CMD returning 255 means "will never be ready": die at once.
wait_until() {
  local seconds="$1" what="$2"
  shift 2
  local deadline rc
  deadline=$((${EPOCHREALTIME/./} + seconds * 1000000))
  while true; do
    rc=0
    "$@" >/dev/null 2>&1 || rc=$?
    ((rc == 0)) && return 0
    ((rc == 255)) && die "$what: gave up (process exited)"
    ((${EPOCHREALTIME/./} > deadline)) && die "$what: not ready after ${seconds}s"
    sleep 0.1
  done
}

# ---------------------------------------------------------------------------------------------
# Throwaway PostgreSQL

# Runs a command as the postgres user (PostgreSQL refuses to run as root).
_pg_as() {
  # From /: the caller's cwd may be closed to postgres, which its tools complain about.
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

# start_postgres DIR: creates a cluster in DIR/data (DIR is created and given to postgres; its
# parent must be traversable by postgres), starts it on a free port of 127.0.0.1 with its unix
# socket in DIR, waits until it answers, and sets SB_PG_PORT and SB_PG_ODBC (ODBC connection
# string to database postgres as superuser switchboard). Stop it with stop_postgres DIR.
start_postgres() {
  local dir="$1"
  [[ -x $SB_PG_BINDIR/initdb ]] || die "PostgreSQL binaries not found in $SB_PG_BINDIR"
  mkdir -p "$dir"
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$dir"
  chmod 700 "$dir"
  _pg_as test -w "$dir" || die "postgres cannot write $dir (is its parent traversable?)"

  if [[ ! -f $dir/data/PG_VERSION ]]; then
    printf '%s\n' "$SB_PG_PASSWORD" >"$dir/pwfile"
    [[ $EUID -eq 0 ]] && chown postgres:postgres "$dir/pwfile"
    # Trust on the unix socket only; TCP needs the password, as the tests' ODBC strings use it.
    _pg_as "$SB_PG_BINDIR/initdb" -D "$dir/data" -U "$SB_PG_USER" --pwfile="$dir/pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 --locale=C -E UTF8 --no-sync \
      >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      die "initdb failed"
    }
    rm -f "$dir/pwfile"
    echo "include_if_exists = 'switchboard.conf'" | _pg_as tee -a "$dir/data/postgresql.conf" \
      >/dev/null
  fi

  local attempt port
  for attempt in 1 2 3; do
    port="$(find_free_port)"
    # Throwaway data: durability off for speed.
    _pg_as tee "$dir/data/switchboard.conf" >/dev/null <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 64MB
EOF
    if _pg_as "$SB_PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
      >/dev/null 2>&1; then
      break
    fi
    # Only a port lost to another process is worth another try.
    grep -q "could not bind\|Address already in use" "$dir/postgres.log" 2>/dev/null ||
      { tail -n 20 "$dir/postgres.log" >&2; die "postgres did not start"; }
    ((attempt < 3)) || die "postgres: no usable port"
  done

  wait_until 30 "postgres on 127.0.0.1:$port" \
    pg_isready -q -h 127.0.0.1 -p "$port" -U "$SB_PG_USER" -d postgres
  SB_PG_PORT="$port"
  SB_PG_ODBC="Driver=PostgreSQL Unicode;Server=127.0.0.1;Port=$port;Database=postgres;"
  SB_PG_ODBC+="Uid=$SB_PG_USER;Pwd=$SB_PG_PASSWORD"
  log "postgres: 127.0.0.1:$port ready"
}

# stop_postgres DIR: stops the cluster started by start_postgres DIR, if it runs. Never fails.
stop_postgres() {
  local dir="$1"
  [[ -f $dir/data/postmaster.pid ]] || return 0
  # Immediate mode: nothing in a throwaway cluster is worth a checkpoint.
  _pg_as "$SB_PG_BINDIR/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || {
    local pid
    pid="$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)"
    if [[ $pid =~ ^[0-9]+$ ]]; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  }
  return 0
}

# ---------------------------------------------------------------------------------------------
# Throwaway Redis

_redis_ready() {
  local pid="$1" port="$2"
  kill -0 "$pid" 2>/dev/null || return 255
  [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]]
}

# start_redis DIR: starts redis-server in the background on a free port of 127.0.0.1 with no
# persistence, its files in DIR, waits until it answers PING, and sets SB_REDIS_PORT and
# SB_REDIS_URL. Its pid and port are kept in DIR for stop_redis DIR.
start_redis() {
  local dir="$1"
  mkdir -p "$dir"
  local attempt port pid
  for attempt in 1 2 3; do
    port="$(find_free_port)"
    # setsid keeps a terminal's Ctrl-C away from it: the caller's trap stops it in order.
    setsid redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --dir "$dir" --daemonize no --logfile "$dir/redis.log" </dev/null >/dev/null 2>&1 &
    pid=$!
    echo "$pid" >"$dir/redis.pid"
    echo "$port" >"$dir/redis.port"
    if (wait_until 30 "redis on 127.0.0.1:$port" _redis_ready "$pid" "$port") 2>/dev/null; then
      break
    fi
    stop_redis "$dir"
    grep -q "Address already in use" "$dir/redis.log" 2>/dev/null ||
      { tail -n 20 "$dir/redis.log" >&2; die "redis did not start"; }
    ((attempt < 3)) || die "redis: no usable port"
  done
  SB_REDIS_PORT="$port"
  SB_REDIS_URL="redis://127.0.0.1:$port/0"
  log "redis: 127.0.0.1:$port ready"
}

# stop_redis DIR: stops the server started by start_redis DIR, if it runs. Never fails.
stop_redis() {
  local dir="$1" pid port
  [[ -f $dir/redis.pid ]] || return 0
  pid="$(cat "$dir/redis.pid")"
  port="$(cat "$dir/redis.port" 2>/dev/null || true)"
  rm -f "$dir/redis.pid"
  kill -0 "$pid" 2>/dev/null || return 0
  redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 ||
    kill -TERM "$pid" 2>/dev/null || true
  # Wait for it to go, then insist.
  local i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  # Reap it when it is our child, so no zombie lingers.
  wait "$pid" 2>/dev/null || true
  return 0
}
