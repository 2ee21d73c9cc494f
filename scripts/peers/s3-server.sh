#!/usr/bin/env bash
# The S3-compatible server the tests use on loopback: moto's server (PyPI moto 5.2.5, S3 backend only), pinned in
# s3-server.requirements.txt and installed into a venv under ${TWINSNAP_CACHE:-~/.cache/twinsnap}/peers/.
# Chosen because it accepts what current AWS SDKs send (aws-sdk-go-v2 as in velero-plugin-for-aws, AWS SDK for
# JavaScript v3 with CRC32 trailers and aws-chunked bodies, multipart uploads); s3rver 3.7.1 stores aws-chunked
# framing as object data. State is in memory: it is gone when the server stops.
#   s3-server.sh install                       install if missing; prints MOTO_SERVER_BIN=...
#   s3-server.sh env                           prints MOTO_SERVER_BIN=... if installed (peers.sh adds it to current.env)
#   s3-server.sh start DIR [--port P] [--bucket NAME]...
#                                              starts it on 127.0.0.1 (a free port unless given), creates the buckets,
#                                              writes DIR/s3.env (S3_URL, S3_PORT, S3_PID, AWS_SHARED_CREDENTIALS_FILE),
#                                              DIR/s3-credentials (any key works) and DIR/s3.log
#   s3-server.sh stop DIR                      stops the server started in DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${TWINSNAP_CACHE:-$HOME/.cache/twinsnap}/peers"
requirements="$here/s3-server.requirements.txt"

python=$(command -v python3 || true)
venv_dir() {
  [ -n "$python" ] || { echo "s3-server: python3 is needed (apt-get install python3 python3-venv)" >&2; exit 1; }
  local key
  key=$( (cat "$requirements"; "$python" --version) | sha256sum | cut -c1-16)
  echo "$cache/s3-server-$key"
}

install() {
  local target started lock
  target=$(venv_dir)
  if [ ! -f "$target/.complete" ]; then
    mkdir -p "$cache"
    exec {lock}>"$cache/.s3-server.lock"
    if command -v flock >/dev/null 2>&1; then flock "$lock"; fi
    if [ ! -f "$target/.complete" ]; then
      started=$(date +%s)
      echo "s3-server: installing moto into $target (first time only)..." >&2
      "$python" -c 'import venv, ensurepip' 2>/dev/null || { echo "s3-server: python3's venv module is missing (apt-get install python3-venv)" >&2; exit 1; }
      # Installed in place (a venv records its own path); the lock and .complete make that safe to rerun.
      rm -rf "$target"
      "$python" -m venv "$target"
      if ! "$target/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements" > "$target/install.log" 2>&1; then
        echo "s3-server: pip install failed; see $target/install.log" >&2; tail -n 20 "$target/install.log" >&2; exit 1
      fi
      echo "MOTO_SERVER_BIN=$target/bin/moto_server" > "$target/peer.env"
      touch "$target/.complete"
      echo "s3-server: installed in $(( $(date +%s) - started )) s" >&2
    fi
    exec {lock}>&-
  fi
  cat "$target/peer.env"
}

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start() {
  local dir=${1:?usage: s3-server.sh start DIR [--port P] [--bucket NAME]...} port="" buckets=() bin pid url
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --port) port=$2; shift 2 ;;
      --bucket) buckets+=("$2"); shift 2 ;;
      *) echo "s3-server: unknown option $1" >&2; exit 2 ;;
    esac
  done
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  bin=$(install | sed -n 's/^MOTO_SERVER_BIN=//p')
  [ -n "$port" ] || port=$(free_port)
  url="http://127.0.0.1:$port"
  printf '[default]\naws_access_key_id = twinsnap\naws_secret_access_key = twinsnap-secret\n' > "$dir/s3-credentials"
  nohup "$bin" -H 127.0.0.1 -p "$port" > "$dir/s3.log" 2>&1 < /dev/null &
  pid=$!
  cat > "$dir/s3.env" <<ENV
S3_URL=$url
S3_PORT=$port
S3_PID=$pid
AWS_SHARED_CREDENTIALS_FILE=$dir/s3-credentials
ENV
  "$(dirname "$bin")/python" - "$url" "$pid" "${buckets[@]}" <<'PY' || { echo "s3-server: not ready; see $dir/s3.log" >&2; kill "$pid" 2>/dev/null; exit 1; }
import os, sys, time, urllib.request
url, pid, buckets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
deadline = time.time() + 30
while True:
    try:
        urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
        break
    except Exception:
        os.kill(pid, 0)  # raises if the server died
        if time.time() > deadline:
            sys.exit(1)
        time.sleep(0.2)
for b in buckets:  # moto checks no signatures: a plain PUT creates a bucket
    urllib.request.urlopen(urllib.request.Request(f"{url}/{b}", method="PUT"), timeout=10).read()
PY
  echo "s3-server: $url (pid $pid); buckets: ${buckets[*]:-none}; env in $dir/s3.env" >&2
}

stop() {
  local dir=${1:?usage: s3-server.sh stop DIR} pid
  [ -f "$dir/s3.env" ] || { echo "s3-server: no $dir/s3.env" >&2; return 0; }
  pid=$(sed -n 's/^S3_PID=//p' "$dir/s3.env")
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "s3-server: stopped pid $pid" >&2
  fi
}

case ${1:-} in
  install) install ;;
  env) t=$(venv_dir); [ -f "$t/.complete" ] && cat "$t/peer.env" ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
