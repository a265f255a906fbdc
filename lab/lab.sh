#!/usr/bin/env bash
# The svccheck lab: a real multi-node Kubernetes in network namespaces on this
# machine, plus an "operator" host outside the cluster on the same lab network.
#
#   lab/lab.sh up          start (idempotent; cleans up a crashed run first)
#   lab/lab.sh down        remove every process, namespace, mount and cgroup it made
#   lab/lab.sh status      exit 0 when the cluster answers and every node is Ready
#   lab/lab.sh exec -- CMD run CMD as the operator host (KUBECONFIG set, bin/ on PATH)
#   lab/lab.sh kubectl ARGS...   kubectl as the operator host
#   lab/lab.sh node NAME -- CMD  run CMD in a node's network namespace
#   lab/lab.sh seed        apply the walkthrough's manifests and wait for its endpoints
#   lab/lab.sh proxy-stop NODE / proxy-start NODE   break / mend a node's kube-proxy
#   lab/lab.sh images      (re)build the lab images and import them into every node
#
# Network: every address lives only inside the lab's namespaces. Hosts sit on a
# bridge in the "lab" namespace; the only default route points at an address
# on that bridge that nobody owns, so nothing leaves the lab.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
K8S_VERSION=${K8S_VERSION:-v1.34.4}
LAB=${SVCCHECK_LAB_DIR:-/var/lib/svccheck-lab}
CACHE=${SVCCHECK_LAB_CACHE:-$HOME/.cache/svccheck-lab}
P=svccheck                      # netns name prefix
NODES=(lab-cp lab-w1 lab-w2)    # lab-cp also runs the control plane
declare -A IP=([lab-cp]=10.250.0.11 [lab-w1]=10.250.0.12 [lab-w2]=10.250.0.13 [operator]=10.250.0.100)
declare -A PODNET=([lab-cp]=10.251.1.0/24 [lab-w1]=10.251.2.0/24 [lab-w2]=10.251.3.0/24)
LABNET=10.250.0.0/24
BLACKHOLE_GW=10.250.0.254       # on the lab bridge, owned by nobody
CLUSTER_CIDR=10.251.0.0/16
SERVICE_CIDR=10.252.0.0/16
API=https://${IP[lab-cp]}:6443
PAUSE_IMAGE=svccheck.local/pause:1
HOSTNAME_IMAGE=svccheck.local/hostname:1
AGENT_IMAGE=svccheck.local/svccheck:lab

log() { printf '[lab %5ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "error: $*"; exit 1; }
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$P-$ns" "$@"; }

need_root() { [ "$(id -u)" = 0 ] || die "the lab needs root (network namespaces, cgroups, containerd)"; }

ensure_packages() {
  local missing=()
  command -v etcd >/dev/null || missing+=(etcd-server)
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v nsenter >/dev/null || missing+=(util-linux)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Debian starts the packaged daemons; the lab runs its own in namespaces.
  pkill -x etcd 2>/dev/null || true
}

build() {
  log "building Kubernetes $K8S_VERSION (cached in $CACHE)"
  KBIN=$("$here/build-k8s.sh" "$K8S_VERSION")
  mkdir -p "$LAB/bin" "$LAB/images"
  log "building svccheck and the lab images"
  (cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$LAB/bin/" ./cmd/kubectl-svccheck ./lab/images/pause ./lab/images/hostname ./lab/mkimage)
  ln -sf "$KBIN/kubectl" "$LAB/bin/kubectl"
  "$LAB/bin/mkimage" -binary "$LAB/bin/pause" -tag "$PAUSE_IMAGE" -o "$LAB/images/pause.tar"
  "$LAB/bin/mkimage" -binary "$LAB/bin/hostname" -tag "$HOSTNAME_IMAGE" -o "$LAB/images/hostname.tar"
  "$LAB/bin/mkimage" -binary "$LAB/bin/kubectl-svccheck" -tag "$AGENT_IMAGE" -user 65532:65532 \
    -o "$LAB/images/svccheck.tar"
}

# ---------------------------------------------------------------- network
net_up() {
  log "creating network namespaces"
  ip netns add "$P-lab"
  ip -n "$P-lab" link set lo up
  ip -n "$P-lab" link add br0 type bridge
  ip -n "$P-lab" link set br0 up
  local h
  for h in "${NODES[@]}" operator; do
    ip netns add "$P-$h"
    ip -n "$P-lab" link add "v-$h" type veth peer name eth0 netns "$P-$h"
    ip -n "$P-lab" link set "v-$h" master br0 up
    ip -n "$P-$h" link set lo up
    ip -n "$P-$h" addr add "${IP[$h]}/24" dev eth0
    ip -n "$P-$h" link set eth0 up
    ip -n "$P-$h" route add default via "$BLACKHOLE_GW"
  done
  local n m
  for n in "${NODES[@]}"; do
    for m in "${NODES[@]}"; do
      [ "$n" = "$m" ] || ip -n "$P-$n" route add "${PODNET[$m]}" via "${IP[$m]}"
    done
    in_ns "$n" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || true'
  done
}

# ---------------------------------------------------------------- pki
pki() {
  local d=$LAB/pki
  [ -f "$d/tokens.csv" ] && return
  log "creating certificates and tokens"
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 3650 -subj /CN=svccheck-lab-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$d/apiserver.key" -out "$d/apiserver.csr" -subj /CN=kube-apiserver 2>/dev/null
  printf 'subjectAltName=IP:%s,IP:10.252.0.1,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n' \
    "${IP[lab-cp]}" > "$d/san.ext"
  openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 3650 \
    -extfile "$d/san.ext" -out "$d/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  tok() { openssl rand -hex 16; }
  {
    echo "$(tok),admin,admin,system:masters"
    echo "$(tok),system:kube-controller-manager,kcm,system:masters"
    echo "$(tok),system:kube-scheduler,ksched,system:masters"
    echo "$(tok),system:kube-proxy,kproxy,"
    echo "$(tok),svccheck-viewer,viewer,"
    local n
    for n in "${NODES[@]}"; do echo "$(tok),system:node:$n,node-$n,system:nodes"; done
  } > "$d/tokens.csv"
}

token_of() { awk -F, -v u="$1" '$2==u {print $1}' "$LAB/pki/tokens.csv"; }

kubeconfig() { # FILE USER [NAMESPACE]
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: svccheck-lab
  cluster:
    server: $API
    certificate-authority: $LAB/pki/ca.crt
users:
- name: $2
  user:
    token: $(token_of "$2")
contexts:
- name: svccheck-lab
  context: {cluster: svccheck-lab, user: "$2", namespace: ${3:-default}}
current-context: svccheck-lab
EOF
}

# ---------------------------------------------------------------- processes
start() { # NAME NETNS CMD...
  local name=$1 ns=$2; shift 2
  mkdir -p "$LAB/logs" "$LAB/pids"
  # exec all the way down, so the recorded pid is the daemon's own
  ( exec nsenter --net="/run/netns/$P-$ns" setsid "$@" > "$LAB/logs/$name.log" 2>&1 < /dev/null ) &
  echo $! > "$LAB/pids/$name.pid"
}

wait_for() { # DESCRIPTION TIMEOUT CMD...
  local what=$1 t=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "timed out after ${t}s waiting for $what (logs in $LAB/logs)"
    sleep 0.3
  done
}

control_plane() {
  local pki=$LAB/pki k=$KBIN
  log "starting etcd and kube-apiserver on lab-cp"
  start etcd lab-cp etcd --name lab --data-dir "$LAB/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster lab=http://127.0.0.1:2380
  start kube-apiserver lab-cp "$k/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="${IP[lab-cp]}" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
    --token-auth-file="$pki/tokens.csv" --authorization-mode=Node,RBAC \
    --service-cluster-ip-range=$SERVICE_CIDR --service-node-port-range=30000-32767 \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --kubelet-preferred-address-types=InternalIP --allow-privileged=true --profiling=false
  kubeconfig "$LAB/admin.kubeconfig" admin
  kubeconfig "$LAB/viewer.kubeconfig" svccheck-viewer
  kubeconfig "$LAB/kcm.kubeconfig" system:kube-controller-manager kube-system
  kubeconfig "$LAB/sched.kubeconfig" system:kube-scheduler kube-system
  kubeconfig "$LAB/proxy.kubeconfig" system:kube-proxy kube-system
  wait_for "kube-apiserver /readyz" 60 in_ns operator "$LAB/bin/kubectl" --kubeconfig "$LAB/admin.kubeconfig" get --raw /readyz
  log "starting kube-controller-manager and kube-scheduler"
  start kube-controller-manager lab-cp "$k/kube-controller-manager" --kubeconfig="$LAB/kcm.kubeconfig" \
    --leader-elect=false --use-service-account-credentials=false --service-account-private-key-file="$pki/sa.key" \
    --root-ca-file="$pki/ca.crt" --cluster-cidr=$CLUSTER_CIDR --allocate-node-cidrs=false \
    --bind-address=127.0.0.1 --secure-port=10257 --controllers='*,-cloud-node-lifecycle'
  start kube-scheduler lab-cp "$k/kube-scheduler" --kubeconfig="$LAB/sched.kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port=10259
}

cgroups_for() { # NODE: a cgroup root per node in every v1 hierarchy
  local n=$1 c
  for c in /sys/fs/cgroup/*/; do
    c=${c%/}
    [ "$(basename "$c")" = unified ] && continue
    [ -d "$c" ] || continue
    mkdir -p "$c/$n"
    if [ "$(basename "$c")" = cpuset ]; then
      cat "$c/cpuset.cpus" > "$c/$n/cpuset.cpus"
      cat "$c/cpuset.mems" > "$c/$n/cpuset.mems"
    fi
  done
}

node_up() {
  local n=$1 d=$LAB/nodes/$1
  mkdir -p "$d/containerd" "$d/cni/net.d" "$d/cni/ipam" "$d/kubelet" "$d/etc"
  cgroups_for "$n"
  cat > "$d/containerd.toml" <<EOF
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd-ttrpc.sock"
[debug]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
EOF
  cat > "$d/cni/net.d/10-lab.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "lab", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$d/cni/ipam", "ranges": [[{"subnet": "${PODNET[$n]}"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
  printf 'nameserver %s\n' "$BLACKHOLE_GW" > "$d/etc/resolv.conf"
  start "containerd-$n" "$n" containerd --config "$d/containerd.toml"
  kubeconfig "$d/kubelet.kubeconfig" "system:node:$n"
  cat > "$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
address: ${IP[$n]}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
cgroupDriver: cgroupfs
cgroupRoot: /$n
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$d/containerd.sock
resolvConf: $d/etc/resolv.conf
clusterDomain: cluster.local
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
EOF
  wait_for "containerd on $n" 30 ctr --address "$d/containerd.sock" version
  local img
  for img in "$LAB"/images/*.tar; do
    ctr --address "$d/containerd.sock" -n k8s.io images import "$img" >/dev/null
  done
  start "kubelet-$n" "$n" "$KBIN/kubelet" --config="$d/kubelet.yaml" --kubeconfig="$d/kubelet.kubeconfig" \
    --root-dir="$d/kubelet" --cert-dir="$d/kubelet/pki" --node-ip="${IP[$n]}" --hostname-override="$n" --v=1
  cat > "$d/proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $LAB/proxy.kubeconfig}
mode: iptables
hostnameOverride: $n
clusterCIDR: $CLUSTER_CIDR
bindAddress: ${IP[$n]}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 0.0.0.0:10256
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  start_proxy "$n"
}

start_proxy() { start "kube-proxy-$1" "$1" "$KBIN/kube-proxy" --config="$LAB/nodes/$1/proxy.yaml"; }

# stop_proxy kills a node's kube-proxy and removes its rules, as if it had
# never run there: that node's NodePorts and ClusterIPs stop forwarding.
stop_proxy() {
  local f=$LAB/pids/kube-proxy-$1.pid pid
  pid=$(cat "$f" 2>/dev/null) || die "no kube-proxy running on $1"
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$f"
  in_ns "$1" "$KBIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
}

kc() { in_ns operator "$LAB/bin/kubectl" --kubeconfig "$LAB/admin.kubeconfig" "$@"; }

healthy() {
  [ -e "/run/netns/$P-operator" ] || return 1
  local ready
  ready=$(timeout 20 nsenter --net="/run/netns/$P-operator" "$LAB/bin/kubectl" --kubeconfig "$LAB/admin.kubeconfig" \
    --request-timeout=10s get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c True) || return 1
  [ "$ready" = "${#NODES[@]}" ]
}

up() {
  need_root
  ensure_packages
  build
  if healthy; then
    log "lab already up: $API (${#NODES[@]} nodes Ready)"
    return
  fi
  down quiet
  SECONDS=0
  mkdir -p "$LAB"
  net_up
  pki
  control_plane
  local n
  for n in "${NODES[@]}"; do
    log "starting containerd, kubelet and kube-proxy on $n"
    node_up "$n"
  done
  wait_for "every node Ready" 90 healthy
  wait_for "the default ServiceAccount" 60 kc get serviceaccount default -n default
  kc apply -f "$here/rbac-viewer.yaml" >/dev/null
  log "lab up in ${SECONDS}s: ${#NODES[@]} nodes Ready, API $API, operator ${IP[operator]}"
  log "run commands as the operator host: lab/lab.sh exec -- kubectl get nodes"
}

# ---------------------------------------------------------------- teardown
cgroup_procs() { # all pids in the lab's cgroup roots
  local n
  for n in "${NODES[@]}"; do
    find /sys/fs/cgroup/*/"$n" -name cgroup.procs -exec cat {} + 2>/dev/null || true
  done
}

down() {
  need_root
  [ "${1:-}" = quiet ] || log "tearing down the lab"
  local f n c
  # Daemons first, so nothing restarts containers while they are killed.
  for f in "$LAB"/pids/*.pid; do
    [ -e "$f" ] || continue
    kill -KILL "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  # Whatever a crashed run left without pid files: lab daemons name the lab's
  # directories on their command lines, container shims name its sockets.
  pkill -KILL -f "$CACHE/k8s/" 2>/dev/null || true
  pkill -KILL -f "$LAB/" 2>/dev/null || true
  # Containers: every pod process lives in a node's cgroup root.
  local end=$((SECONDS + 15)) pids
  while pids=$(cgroup_procs) && [ -n "$pids" ]; do
    echo "$pids" | xargs -r kill -KILL 2>/dev/null || true
    [ $SECONDS -lt $end ] || { log "warning: processes still in lab cgroups: $(echo $pids)"; break; }
    sleep 0.2
  done
  # Mounts under the lab dir (container rootfs, pod netns, kubelet volumes), deepest first.
  if [ -d "$LAB" ]; then
    awk -v p="$LAB/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
  fi
  for n in "${NODES[@]}" operator lab; do
    ip netns del "$P-$n" 2>/dev/null || true
  done
  # Cgroups, deepest first; an emptied cgroup can take a moment to be removable.
  end=$((SECONDS + 15))
  while :; do
    local left=()
    for n in "${NODES[@]}"; do
      for c in /sys/fs/cgroup/*/"$n"; do
        [ -d "$c" ] || continue
        find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
        [ -d "$c" ] && left+=("$c")
      done
    done
    [ ${#left[@]} = 0 ] && break
    [ $SECONDS -lt $end ] || { log "warning: cgroups not removable: ${left[*]}"; break; }
    sleep 0.3
  done
  # State of this run; the build cache, certificates and images stay.
  rm -rf "$LAB/etcd" "$LAB/nodes" "$LAB/logs" "$LAB/pids"
  [ "${1:-}" = quiet ] || log "lab down"
}

has_ready_endpoints() { # SERVICE N
  local got
  got=$(kc get endpointslices -n default -l "kubernetes.io/service-name=$1" \
    -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}x{end}')
  [ "${#got}" -ge "$2" ]
}

proxied_everywhere() { # SERVICE_PORT N: every node's iptables forwards to N endpoints
  local n got
  for n in "${NODES[@]}"; do
    got=$(in_ns "$n" iptables-save -t nat | grep -c -- "-A KUBE-SVC-.* --comment \"$1 -> ") || return 1
    [ "$got" -ge "$2" ] || return 1
  done
}

# answers_from IP PORT N: from the operator host, at most 40 HTTP connections
# to IP:PORT see N distinct hostname pods answer (the dataplane has converged).
answers_from() {
  in_ns operator bash -c '
    declare -A seen
    for _ in $(seq 40); do
      exec 3<>"/dev/tcp/$1/$2" || continue
      printf "GET / HTTP/1.0\r\n\r\n" >&3
      name=$(timeout 2 cat <&3 | tail -n 1)
      exec 3<&-
      [ -n "$name" ] && seen[$name]=1
      [ ${#seen[@]} -ge "$3" ] && exit 0
    done
    exit 1' _ "$@"
}

# seed applies the walkthrough's manifests and waits until both endpoints are
# ready in the Services' EndpointSlices.
seed() {
  kc apply -f "$here/manifests/seed.yaml" >/dev/null
  kc rollout status deployment/hostname --timeout=120s >/dev/null
  local s
  for s in hostname hostname-nodeport; do
    wait_for "2 ready endpoints of $s" 60 has_ready_endpoints "$s" 2
    wait_for "every kube-proxy to program both endpoints of $s" 30 proxied_everywhere "default/$s:http" 2
  done
  local n
  for n in "${NODES[@]}"; do
    wait_for "NodePort 30080 on $n to reach both pods" 30 answers_from "${IP[$n]}" 30080 2
  done
  log "seed applied: deployment/hostname (2 pods), service/hostname (ClusterIP 8080->80), service/hostname-nodeport (NodePort 30080)"
}

status() {
  if healthy; then
    kc get nodes -o wide
    return 0
  fi
  echo "lab is not up" >&2
  return 1
}

cmd=${1:-}
shift || true
case "$cmd" in
  up) up ;;
  down) down ;;
  status) status ;;
  build) build ;;
  exec)
    [ "${1:-}" = -- ] && shift
    [ $# -gt 0 ] || die "usage: lab.sh exec -- CMD..."
    KUBECONFIG=$LAB/admin.kubeconfig PATH=$LAB/bin:$PATH SVCCHECK_IMAGE=$AGENT_IMAGE SVCCHECK_IMAGE_PULL_POLICY=Never \
      in_ns operator "$@" ;;
  kubectl) kc "$@" ;;
  seed) seed ;;
  proxy-stop) KBIN=$CACHE/k8s/$K8S_VERSION/bin; stop_proxy "${1:?node name}" ;;
  proxy-start) KBIN=$CACHE/k8s/$K8S_VERSION/bin; start_proxy "${1:?node name}" ;;
  node)
    n=${1:?node name}; shift
    [ "${1:-}" = -- ] && shift
    in_ns "$n" "$@" ;;
  images)
    build
    for n in "${NODES[@]}"; do
      for img in "$LAB"/images/*.tar; do
        ctr --address "$LAB/nodes/$n/containerd.sock" -n k8s.io images import "$img" >/dev/null
      done
    done ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
