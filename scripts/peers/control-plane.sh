#!/usr/bin/env bash
# A Kubernetes control plane on loopback, built from the peers in scripts/peers.sh's current.env: etcd,
# kube-apiserver (token auth, RBAC, service-account keys) and, optionally, kube-controller-manager. For humans and
# CI debugging; the tests' own harness (test/support/control-plane.ts) uses the same flags.
#   scripts/peers/control-plane.sh start DIR [--with-controller-manager]
#       writes DIR/kubeconfig, DIR/env (ports, pids, URLs; `. DIR/env` sets KUBECONFIG), DIR/*.log; waits for /readyz
#   scripts/peers/control-plane.sh stop DIR [--clean]
#       stops what DIR/env names (controller-manager, apiserver, etcd); --clean removes DIR afterwards
# Binaries: ETCD_BIN, KUBE_APISERVER_BIN, KUBE_CONTROLLER_MANAGER_BIN from the environment, else from current.env.
# Needs curl and openssl.
set -euo pipefail
cache="${TWINSNAP_CACHE:-$HOME/.cache/twinsnap}/peers"

die() { echo "control-plane: $*" >&2; exit 1; }

peer() { # NAME: the binary's path, from the environment or current.env
  local path=${!1:-}
  if [ -z "$path" ] && [ -f "$cache/current.env" ]; then path=$(sed -n "s/^$1=//p" "$cache/current.env" | tail -n 1); fi
  [ -n "$path" ] && [ -x "$path" ] || die "$1 is not available: run scripts/peers.sh (or set $1)"
  echo "$path"
}

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
  fi
}

wait_for() { # WHAT PID LOG COMMAND...: poll COMMAND until it succeeds (90 s), failing early if PID died
  local what=$1 pid=$2 log=$3 i
  shift 3
  for i in $(seq 360); do
    if "$@" >/dev/null 2>&1; then echo "control-plane: $what ready after $((i / 4)) s" >&2; return 0; fi
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$what exited; see $log"; }
    sleep 0.25
  done
  tail -n 20 "$log" >&2
  die "$what not ready after 90 s; see $log"
}

start() {
  local dir=${1:?usage: control-plane.sh start DIR [--with-controller-manager]} kcm=false
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --with-controller-manager) kcm=true; shift ;;
      *) die "unknown option $1" ;;
    esac
  done
  command -v curl >/dev/null 2>&1 || die "curl is needed"
  command -v openssl >/dev/null 2>&1 || die "openssl is needed"
  local etcd apiserver controller_manager
  etcd=$(peer ETCD_BIN)
  apiserver=$(peer KUBE_APISERVER_BIN)
  if $kcm; then controller_manager=$(peer KUBE_CONTROLLER_MANAGER_BIN); fi
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  if [ -f "$dir/env" ]; then
    for pid in $(sed -n 's/^[A-Z_]*_PID=//p' "$dir/env"); do
      kill -0 "$pid" 2>/dev/null && die "$dir already has a running control plane (pid $pid): stop it first"
    done
  fi
  mkdir -p "$dir/certs/kcm"
  rm -f "$dir/env"

  local token=twinsnap-admin-token
  echo "$token,admin,admin,system:masters" > "$dir/tokens.csv"
  [ -f "$dir/sa.key" ] || openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null

  local etcd_port etcd_peer_port api_port
  etcd_port=$(free_port); etcd_peer_port=$(free_port); api_port=$(free_port)
  local etcd_url="http://127.0.0.1:$etcd_port" peer_url="http://127.0.0.1:$etcd_peer_port"
  nohup "$etcd" --name=twinsnap --data-dir="$dir/etcd-data" \
    --listen-client-urls="$etcd_url" --advertise-client-urls="$etcd_url" \
    --listen-peer-urls="$peer_url" --initial-advertise-peer-urls="$peer_url" --initial-cluster="twinsnap=$peer_url" \
    --log-level=warn > "$dir/etcd.log" 2>&1 < /dev/null &
  local etcd_pid=$!
  {
    echo "ETCD_URL=$etcd_url"
    echo "ETCD_PORT=$etcd_port"
    echo "ETCD_PEER_PORT=$etcd_peer_port"
    echo "ETCD_DATA_DIR=$dir/etcd-data"
    echo "ETCD_PID=$etcd_pid"
  } >> "$dir/env"
  wait_for etcd "$etcd_pid" "$dir/etcd.log" curl -sf "$etcd_url/health"

  local server="https://127.0.0.1:$api_port"
  nohup "$apiserver" --etcd-servers="$etcd_url" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --secure-port="$api_port" --cert-dir="$dir/certs" --token-auth-file="$dir/tokens.csv" \
    --authorization-mode=RBAC --service-account-key-file="$dir/sa.pub" \
    --service-account-signing-key-file="$dir/sa.key" --service-account-issuer=https://kubernetes.default.svc \
    --service-cluster-ip-range=10.96.0.0/12 --enable-aggregator-routing=true > "$dir/kube-apiserver.log" 2>&1 < /dev/null &
  local api_pid=$!
  {
    echo "APISERVER_URL=$server"
    echo "APISERVER_PORT=$api_port"
    echo "APISERVER_PID=$api_pid"
    echo "TOKEN=$token"
    echo "KUBECONFIG=$dir/kubeconfig"
  } >> "$dir/env"
  wait_for kube-apiserver "$api_pid" "$dir/kube-apiserver.log" curl -skf -H "Authorization: Bearer $token" "$server/readyz"
  # kube-apiserver wrote a self-signed serving certificate (for 127.0.0.1) and its CA into apiserver.crt.
  cat > "$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: twinsnap
  cluster:
    server: $server
    certificate-authority: $dir/certs/apiserver.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: twinsnap
  context:
    cluster: twinsnap
    user: admin
current-context: twinsnap
EOF

  if $kcm; then
    local kcm_port
    kcm_port=$(free_port)
    nohup "$controller_manager" --kubeconfig="$dir/kubeconfig" --bind-address=127.0.0.1 --secure-port="$kcm_port" \
      --cert-dir="$dir/certs/kcm" --authentication-kubeconfig="$dir/kubeconfig" --authorization-kubeconfig="$dir/kubeconfig" \
      --service-account-private-key-file="$dir/sa.key" --root-ca-file="$dir/certs/apiserver.crt" \
      --leader-elect=false --use-service-account-credentials=false \
      --controllers='*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle' > "$dir/kube-controller-manager.log" 2>&1 < /dev/null &
    local kcm_pid=$!
    { echo "KCM_PORT=$kcm_port"; echo "KCM_PID=$kcm_pid"; } >> "$dir/env"
    wait_for kube-controller-manager "$kcm_pid" "$dir/kube-controller-manager.log" curl -skf "https://127.0.0.1:$kcm_port/healthz"
  fi
  echo "control-plane: $server; KUBECONFIG=$dir/kubeconfig; stop with: $0 stop $dir" >&2
}

stop_pid() { # NAME PID DIR: stop PID if it is still the process started for DIR
  local name=$1 pid=$2 dir=$3 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir" || { echo "control-plane: pid $pid is no longer $name; left alone" >&2; return 0; }
  kill "$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; echo "control-plane: $name (pid $pid) killed" >&2
  else echo "control-plane: $name (pid $pid) stopped" >&2; fi
}

stop() {
  local dir=${1:?usage: control-plane.sh stop DIR [--clean]} clean=${2:-}
  [ -f "$dir/env" ] || die "no $dir/env"
  dir=$(cd "$dir" && pwd)
  stop_pid kube-controller-manager "$(sed -n 's/^KCM_PID=//p' "$dir/env")" "$dir"
  stop_pid kube-apiserver "$(sed -n 's/^APISERVER_PID=//p' "$dir/env")" "$dir"
  stop_pid etcd "$(sed -n 's/^ETCD_PID=//p' "$dir/env")" "$dir"
  if [ "$clean" = "--clean" ]; then rm -rf "$dir"; fi
}

case ${1:-} in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
