#!/usr/bin/env bash
# Runs a command inside a network namespace of its own, made for a real Kubernetes node (kubelet, containerd,
# CNI, kube-proxy and the control plane all run in it): nothing the node does can reach beyond this machine.
#   scripts/peers/node-netns.sh run CMD [ARGS...]
# The namespace (twinsnap-node-<pid>) has its loopback and one veth pair, node0 <-> node0-peer, both ends inside
# it: node0 carries the node's address ($NODE_IP, 10.77.0.10/24; kubelet refuses a loopback node IP), the peer end
# only gives it a carrier. Pods get a bridge and veths from the CNI bridge plugin, also inside. There is no route
# out: the namespace has no interface connected to the host.
# CMD runs in a private mount namespace too (propagation slave: the host's mounts are seen, none of the node's
# mounts leak out), with tmpfs on /run/netns and /run/containerd, and with the host's /sys (so its cgroup
# hierarchies). The namespace is deleted on exit, after
# every process still in it (only ours: it is a fresh namespace) is killed.
# Needs root, iproute2 (ip), util-linux (unshare, nsenter).
set -euo pipefail
[ "${1:-}" = run ] && [ $# -ge 2 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
shift
[ "$(id -u)" = 0 ] || { echo "node-netns: must run as root (creates a network namespace)" >&2; exit 1; }
for tool in ip unshare nsenter; do command -v "$tool" >/dev/null || { echo "node-netns: $tool is needed (apt-get install iproute2 util-linux)" >&2; exit 1; }; done

ns="twinsnap-node-$$"
node_ip=${NODE_IP:-10.77.0.10}
made_run_containerd=false
[ -e /run/containerd ] || made_run_containerd=true   # the mount point below; removed again if it was ours
ip netns add "$ns"
cleanup() {
  local pids
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  if $made_run_containerd; then rmdir /run/containerd 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inns() { ip netns exec "$ns" "$@"; }
inns ip link set lo up
inns ip link add node0 type veth peer name node0-peer
inns ip addr add "$node_ip/24" dev node0
inns ip link set node0 up
inns ip link set node0-peer up
# A default route on node0 (no gateway answers it): ClusterIP traffic is DNATed by kube-proxy before routing, but
# the kernel needs some route to accept an unrouted destination first. Nothing is on the other end.
inns ip route add default dev node0
inns sysctl -qw net.ipv4.ip_forward=1
inns sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
inns sysctl -qw net.ipv4.conf.all.route_localnet=1

echo "node-netns: network namespace $ns, node address $node_ip" >&2
set +e
# The node's runtime state directories get a tmpfs of their own in that mount namespace: the Pods' network
# namespace files (/run/netns/cni-*), runc's and the shims' state (/run/containerd) vanish with it.
NODE_NETNS="$ns" NODE_IP="$node_ip" unshare --mount --propagation slave -- nsenter --net="/run/netns/$ns" -- \
  bash -c 'mount -t tmpfs -o mode=0755 node-netns /run/netns && mkdir -p /run/containerd && mount -t tmpfs -o mode=0711 node-containerd /run/containerd && exec "$@"' node-netns "$@"
rc=$?
set -e
exit $rc
