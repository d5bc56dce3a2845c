# Shared by scripts/run and scripts/test (sourced, not run): each checks what it needs,
# installs what it may, and collects in `missing` what it cannot, each piece with its
# one-line install. Nothing here prints "ready": the callers do, once nothing is missing.

missing=()
have() { command -v "$1" >/dev/null 2>&1; }

# Installs Debian packages with apt-get, when this is Debian or Ubuntu and we may (root,
# or sudo without a password). False when it cannot.
apt_install() {
  have apt-get || return 1
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    have sudo && sudo -n true 2>/dev/null || return 1
    sudo=(sudo -n)
  fi
  echo "installing Debian packages: $*"
  # The package lists once per script; once failed (offline), not tried again.
  [ "${apt_updated:-}" = failed ] && return 1
  if [ -z "${apt_updated:-}" ]; then
    "${sudo[@]}" apt-get update -qq >/dev/null || { apt_updated=failed; return 1; }
    apt_updated=1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The wasm32-wasip2 target, added with rustup when it is missing.
need_wasm_target() {
  if ! have cargo || ! have rustup; then
    missing+=("Rust with rustup: curl --proto '=https' -sSf https://sh.rustup.rs | sh")
    return
  fi
  rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2 ||
    missing+=("the wasm32-wasip2 target: rustup target add wasm32-wasip2")
}

REDIS7_FIX="the pipeline's scripts need Redis 7.0 or later (XAUTOCLAIM, Redis 7's XINFO fields): \
Debian 11 and Ubuntu 22.04 ship Redis 6. Install 7 from Redis's own packages \
(https://redis.io/docs/latest/operate/oss_and_stack/install/install-redis/install-redis-on-linux/) \
or run it in a container (docker run -d -p 6379:6379 redis:7), then run this again"

# The major version of the local redis-server binary ("" when unknown).
redis_server_major() { redis-server --version 2>/dev/null | sed -n 's/.* v=\([0-9]*\)\..*/\1/p'; }

# A local redis-server 7 or later: installed with apt-get when missing, refused when older.
need_redis_server() {
  have redis-server || apt_install redis-server || true
  if ! have redis-server; then
    missing+=("redis-server 7 or later: sudo apt-get install redis-server (Debian 12, Ubuntu 24.04); brew install redis (macOS)")
    return
  fi
  local major
  major="$(redis_server_major)"
  if [ "${major:-0}" -lt 7 ]; then
    missing+=("redis-server 7 or later, not $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p'): $REDIS7_FIX")
  fi
}

# The version a Redis at the URL $1 reports (`INFO server`), asked over bash's own
# /dev/tcp: no redis-cli needed. It logs in with the URL's user and password when it has
# them. Prints nothing when it cannot tell: a TLS address (rediss://), a server that
# refuses the login, or no answer within 2 s; the app then names the problem itself.
redis_version_of() {
  local url="$1" rest userinfo="" user="" password="" hostport host port reply line
  case "$url" in redis://*) rest="${url#redis://}" ;; *) return 0 ;; esac
  hostport="${rest%%/*}"
  if [[ "$hostport" == *@* ]]; then userinfo="${hostport%@*}"; hostport="${hostport##*@}"; fi
  host="${hostport%:*}"; port="${hostport##*:}"; [ "$port" = "$hostport" ] && port=6379
  if [ -n "$userinfo" ]; then
    if [[ "$userinfo" == *:* ]]; then user="${userinfo%%:*}"; password="${userinfo#*:}"; else password="$userinfo"; fi
  fi
  # RESP: each argument as a bulk string, its length in bytes.
  resp() { local LC_ALL=C a out; out="*$#"$'\r\n'; for a in "$@"; do out+="\$${#a}"$'\r\n'"$a"$'\r\n'; done; printf '%s' "$out"; }
  (
    exec 3<>"/dev/tcp/$host/$port" || exit 0
    if [ -n "$password" ]; then
      if [ -n "$user" ]; then resp AUTH "$user" "$password" >&3; else resp AUTH "$password" >&3; fi
      IFS= read -r -t 2 reply <&3 || exit 0
      [ "${reply:0:1}" = + ] || exit 0
    fi
    resp INFO server >&3
    while IFS= read -r -t 2 line <&3; do
      line="${line%$'\r'}"
      case "$line" in redis_version:*) printf '%s' "${line#redis_version:}"; exit 0 ;; -*) exit 0 ;; esac
    done
  ) 2>/dev/null || true
}

# Refuses a Redis older than 7 already listening at the URL $1 ($2: its host:port, for
# the message). A server it cannot ask (above) is left to the app, which names the problem.
check_running_redis() {
  local version
  version="$(redis_version_of "$1")"
  if [ -n "$version" ] && [ "${version%%.*}" -lt 7 ]; then
    missing+=("the Redis at $2 is $version: $REDIS7_FIX")
  fi
}

# The Spin CLI, 3.x or 4.x: $SPIN_CLI, else `spin` on PATH. Sets `spin` to its path.
# $1 says what it is needed for, in the missing line.
need_spin() {
  spin=""
  if [ -n "${SPIN_CLI:-}" ]; then
    if [ -f "$SPIN_CLI" ] && [ -x "$SPIN_CLI" ]; then spin="$SPIN_CLI"; fi
  else
    spin="$(command -v spin || true)"
  fi
  local install="curl -fsSL https://spinframework.dev/downloads/install.sh | bash && sudo mv spin /usr/local/bin/ (or set SPIN_CLI to its path)"
  if [ -z "$spin" ]; then
    if [ -n "${SPIN_CLI:-}" ]; then
      missing+=("SPIN_CLI is $SPIN_CLI, which is not an executable: point it at a spin 3.x or 4.x")
    else
      missing+=("the Spin CLI 3.x or 4.x ($1): $install")
    fi
    return
  fi
  local version
  version="$("$spin" --version 2>/dev/null | sed -n 's/^spin \([0-9][^ ]*\).*/\1/p' || true)"
  case "$version" in
    3.* | 4.*) ;;
    *) missing+=("the Spin CLI 3.x or 4.x ($1), not ${version:-an unknown version} at $spin: $install") ;;
  esac
}

# Bash 5.1 or later: `wait -n` with process ids (scripts/run's supervisor), `declare -A`.
need_bash() {
  if [ "${BASH_VERSINFO[0]}" -lt 5 ] || { [ "${BASH_VERSINFO[0]}" -eq 5 ] && [ "${BASH_VERSINFO[1]}" -lt 1 ]; }; then
    missing+=("bash 5.1 or later, not $BASH_VERSION: brew install bash (macOS), then run it with that bash")
  fi
}

# Ends the script when anything is missing, naming each piece with its install.
stop_if_missing() {
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$1 cannot go on; missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
}
