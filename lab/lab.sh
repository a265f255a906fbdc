#!/usr/bin/env bash
# The svccheck lab: a real multi-node Kubernetes in network namespaces on this
# machine, plus an "operator" host outside the cluster on the same lab network.
#
#   lab/lab.sh up [--dns coredns|none] [--proxy iptables|nftables] [--cni bridge|flannel] [--stack ipv4|dual]
#                          start (idempotent; cleans up a crashed run first, and
#                          restarts a lab running another dataplane)
#   lab/lab.sh down        remove every process, namespace, mount and cgroup it made
#   lab/lab.sh status      exit 0 when the cluster answers and every node is Ready; prints the dataplane
#   lab/lab.sh exec -- CMD run CMD as the operator host (KUBECONFIG set, bin/ on PATH)
#   lab/lab.sh kubectl ARGS...   kubectl as the operator host
#   lab/lab.sh node NAME -- CMD  run CMD in a node's network namespace
#   lab/lab.sh seed        apply the walkthrough's manifests and wait for its endpoints
#   lab/lab.sh proxy-stop NODE / proxy-start NODE   break / mend a node's kube-proxy (start waits for its rules)
#   lab/lab.sh node-readdress NODE [IP] / node-readdress NODE --restore
#                          move a worker to address IP (default: a free lab
#                          address; printed) and back to the topology's
#   lab/lab.sh images      (re)build the lab images and import them into every node
#   lab/lab.sh sim N [...] / sim-fault [...] / sim-status / sim-down
#                          the scale lab: N simulated nodes added to this one (lab/sim.sh)
#
# Dataplane, per run: flags of `up` or the environment (LAB_DNS, LAB_PROXY,
# LAB_CNI, LAB_STACK); the first value is the default. CoreDNS serves
# kube-system/kube-dns; kube-proxy runs in iptables or nftables mode; pods are
# networked by a bridge per node with static routes, or by flannel (VXLAN);
# ipv4 or dual-stack (IPv6 too). The running lab's choice is in $LAB/dataplane.
#
# Network: every address lives only inside the lab's namespaces. Hosts sit on a
# bridge in the "lab" namespace; the only default route (one per family)
# points at an address on that bridge that nobody owns, so nothing leaves the
# lab. Names, addresses and CIDRs come from lab/topology.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
K8S_VERSION=${K8S_VERSION:-v1.34.4}
LAB=${SVCCHECK_LAB_DIR:-/var/lib/svccheck-lab}
CACHE=${SVCCHECK_LAB_CACHE:-$HOME/.cache/svccheck-lab}
P=svccheck                      # netns name prefix
# Every lab process lives below this cgroup of the pids hierarchy: daemons in
# $TRACK/daemons (start joins it), containers in $TRACK/<node> (kubelet's
# cgroupRoot). Teardown kills by reading it, so it can only hit the lab's own.
CG=svccheck-lab
TRACK=/sys/fs/cgroup/pids/$CG
PAUSE_IMAGE=svccheck.local/pause:1
HOSTNAME_IMAGE=svccheck.local/hostname:1
AGENT_IMAGE=svccheck.local/svccheck:lab
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
COREDNS_IMAGE=svccheck.local/coredns:$COREDNS_VERSION
FLANNEL_VERSION=${FLANNEL_VERSION:-v0.28.10}
export COREDNS_VERSION FLANNEL_VERSION

log() { printf '[lab %5ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "error: $*"; exit 1; }
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$P-$ns" "$@"; }

need_root() { [ "$(id -u)" = 0 ] || die "the lab needs root (network namespaces, cgroups, containerd)"; }

# The topology (names, addresses, CIDRs) comes from lab/topology.
TOPOLOGY=$here/topology
NODES=()                        # NODES[0] also runs the control plane
HOSTS=()                        # hosts outside the cluster, "operator" among them
declare -A IP=() PODNET=() IP6=() PODNET6=() NET=()
while read -r kind name addr subnet addr6 subnet6; do
  case $kind in
    node) NODES+=("$name"); IP[$name]=$addr; PODNET[$name]=$subnet; IP6[$name]=$addr6; PODNET6[$name]=$subnet6 ;;
    host) HOSTS+=("$name"); IP[$name]=$addr; IP6[$name]=$subnet ;;
    net) NET[$name]=$addr ;;
    *) die "$TOPOLOGY: unknown record: $kind $name" ;;
  esac
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOPOLOGY")
for v in "${NODES[0]:-}" "${IP[operator]:-}" "${NET[lab]:-}" "${NET[gateway]:-}" "${NET[cluster]:-}" "${NET[service]:-}"; do
  [ -n "$v" ] || die "$TOPOLOGY needs a node, host operator and net lab, gateway, cluster, service"
done
CP=${NODES[0]}
API=https://${IP[$CP]}:6443
SERVICE_NET=${NET[service]%/*}
KUBERNETES_SERVICE_IP=${SERVICE_NET%.*}.$((${SERVICE_NET##*.} + 1))   # first address of the service CIDR

# ---------------------------------------------------------------- dataplane
LAB_DNS=${LAB_DNS:-coredns}
LAB_PROXY=${LAB_PROXY:-iptables}
LAB_CNI=${LAB_CNI:-bridge}
LAB_STACK=${LAB_STACK:-ipv4}

# dataplane_flags parses up's flags over the environment's choice.
dataplane_flags() {
  while [ $# -gt 0 ]; do
    case $1 in
      --dns) LAB_DNS=${2:?--dns needs a value} ;;
      --proxy) LAB_PROXY=${2:?--proxy needs a value} ;;
      --cni) LAB_CNI=${2:?--cni needs a value} ;;
      --stack) LAB_STACK=${2:?--stack needs a value} ;;
      *) die "unknown option $1 (up takes --dns, --proxy, --cni, --stack)" ;;
    esac
    shift 2
  done
  [[ $LAB_DNS =~ ^(coredns|none)$ ]] || die "--dns / LAB_DNS: coredns or none, not $LAB_DNS"
  [[ $LAB_PROXY =~ ^(iptables|nftables)$ ]] || die "--proxy / LAB_PROXY: iptables or nftables, not $LAB_PROXY (ipvs: this kernel has no IPVS)"
  [[ $LAB_CNI =~ ^(bridge|flannel)$ ]] || die "--cni / LAB_CNI: bridge or flannel, not $LAB_CNI"
  [[ $LAB_STACK =~ ^(ipv4|dual)$ ]] || die "--stack / LAB_STACK: ipv4 or dual, not $LAB_STACK"
  if [ "$LAB_STACK" = dual ]; then
    local v
    for v in lab6 gateway6 cluster6 service6; do [ -n "${NET[$v]:-}" ] || die "$TOPOLOGY declares no net $v (needed by --stack dual)"; done
    for v in "${NODES[@]}" "${HOSTS[@]}"; do [ -n "${IP6[$v]:-}" ] || die "$TOPOLOGY declares no IPv6 address of $v (needed by --stack dual)"; done
    for v in "${NODES[@]}"; do [ -n "${PODNET6[$v]:-}" ] || die "$TOPOLOGY declares no IPv6 pod subnet of $v (needed by --stack dual)"; done
  fi
  [ "$LAB_DNS" = none ] || [ -n "${NET[dns]:-}" ] || die "$TOPOLOGY declares no net dns (the kube-dns ClusterIP)"
}

# dataplane prints the chosen dataplane as $LAB/dataplane holds it.
dataplane() { printf 'dns=%s\nproxy=%s\ncni=%s\nstack=%s\n' "$LAB_DNS" "$LAB_PROXY" "$LAB_CNI" "$LAB_STACK"; }

# load_dataplane takes the running lab's dataplane (commands other than up
# act on the lab as it runs); without one, the defaults.
load_dataplane() {
  local k v
  [ -f "$LAB/dataplane" ] || return 0
  while IFS='=' read -r k v; do
    case $k in
      dns) LAB_DNS=$v ;; proxy) LAB_PROXY=$v ;; cni) LAB_CNI=$v ;; stack) LAB_STACK=$v ;;
    esac
  done < "$LAB/dataplane"
}

dual() { [ "$LAB_STACK" = dual ]; }
# The CIDRs of the cluster, one per family.
service_cidrs() { if dual; then echo "${NET[service]},${NET[service6]}"; else echo "${NET[service]}"; fi; }
cluster_cidrs() { if dual; then echo "${NET[cluster]},${NET[cluster6]}"; else echo "${NET[cluster]}"; fi; }
node_ips() { if dual; then echo "${IP[$1]},${IP6[$1]}"; else echo "${IP[$1]}"; fi; }
pod_cidrs_json() { if dual; then echo "[\"${PODNET[$1]}\", \"${PODNET6[$1]}\"]"; else echo "[\"${PODNET[$1]}\"]"; fi; }

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
  [ -x /usr/bin/time ] || missing+=(time) # GNU time: the scale e2e's peak RSS of the plugin
  [ "$LAB_PROXY" != nftables ] || command -v nft >/dev/null || missing+=(nftables)
  [ ${#missing[@]} -gt 0 ] || return 0
  log "installing ${missing[*]}"
  # Debian's maintainer scripts start the packaged daemons (etcd, containerd)
  # through invoke-rc.d or deb-systemd-invoke, which both obey policy-rc.d:
  # one that denies every start keeps them from starting, for this install
  # only. A policy-rc.d already in place is left as it is.
  local ours=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    ours=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\n# lab/lab.sh: no service starts while it installs packages\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$ours" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  # The lab runs its own etcd in a namespace: keep the packaged one from
  # starting at boot too.
  if [[ " ${missing[*]} " = *" etcd-server "* ]]; then
    if [ -d /run/systemd/system ]; then
      systemctl disable --quiet etcd.service || true
    else
      update-rc.d etcd disable >/dev/null 2>&1 || true
    fi
  fi
}

build() {
  log "building Kubernetes $K8S_VERSION (cached in $CACHE)"
  KBIN=$("$here/build-k8s.sh" "$K8S_VERSION")
  mkdir -p "$LAB/bin" "$LAB/images"
  log "building svccheck and the lab images"
  (cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$LAB/bin/" ./lab/images/pause ./lab/images/hostname ./lab/mkimage)
  ln -sf "$KBIN/kubectl" "$LAB/bin/kubectl"
  "$LAB/bin/mkimage" -binary "$LAB/bin/pause" -tag "$PAUSE_IMAGE" -o "$LAB/images/pause.tar"
  "$LAB/bin/mkimage" -binary "$LAB/bin/hostname" -tag "$HOSTNAME_IMAGE" -o "$LAB/images/hostname.tar"
  # The agent image is what `make image` builds for everyone (every platform);
  # the nodes import this machine's platform, and the operator runs that very
  # binary.
  local platform
  platform=linux/$(go env GOARCH)
  make -s -C "$repo" image IMAGE="$AGENT_IMAGE" IMAGE_DIR="$LAB/agent-image" >&2
  ln -f "$LAB/agent-image/svccheck-${platform//\//-}.tar" "$LAB/images/svccheck.tar"
  ln -sf "$LAB/agent-image/${platform//\//-}/kubectl-svccheck" "$LAB/bin/kubectl-svccheck"
}

# ---------------------------------------------------------------- network
net_up() {
  log "creating network namespaces"
  ip netns add "$P-lab"
  ip -n "$P-lab" link set lo up
  ip -n "$P-lab" link add br0 type bridge
  ip -n "$P-lab" link set br0 up
  local h
  for h in "${NODES[@]}" "${HOSTS[@]}"; do
    ip netns add "$P-$h"
    ip -n "$P-lab" link add "v-$h" type veth peer name eth0 netns "$P-$h"
    ip -n "$P-lab" link set "v-$h" master br0 up
    ip -n "$P-$h" link set lo up
    ip -n "$P-$h" addr add "${IP[$h]}/${NET[lab]#*/}" dev eth0
    if dual; then # no duplicate address detection: the lab assigns every address once
      ip -n "$P-$h" addr add "${IP6[$h]}/${NET[lab6]#*/}" dev eth0 nodad
    fi
    ip -n "$P-$h" link set eth0 up
    ip -n "$P-$h" route add default via "${NET[gateway]}"
    if dual; then ip -n "$P-$h" -6 route add default via "${NET[gateway6]}"; fi
  done
  local n m
  for n in "${NODES[@]}"; do
    # Pod subnets are routed node to node over the bridge (host-gw style);
    # flannel routes them through its VXLAN device instead.
    if [ "$LAB_CNI" = bridge ]; then
      for m in "${NODES[@]}"; do
        [ "$n" = "$m" ] && continue
        ip -n "$P-$n" route add "${PODNET[$m]}" via "${IP[$m]}"
        if dual; then ip -n "$P-$n" -6 route add "${PODNET6[$m]}" via "${IP6[$m]}"; fi
      done
    fi
    in_ns "$n" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || true'
    if dual; then
      in_ns "$n" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding; echo 1 > /proc/sys/net/bridge/bridge-nf-call-ip6tables 2>/dev/null || true'
    fi
  done
}

# ---------------------------------------------------------------- pki
pki() {
  local d=$LAB/pki
  if [ -f "$d/tokens.csv" ]; then
    # Users added since the certificates were made.
    grep -q ',system:flannel,' "$d/tokens.csv" || echo "$(openssl rand -hex 16),system:flannel,flannel," >> "$d/tokens.csv"
    return
  fi
  log "creating certificates and tokens"
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 3650 -subj /CN=svccheck-lab-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$d/apiserver.key" -out "$d/apiserver.csr" -subj /CN=kube-apiserver 2>/dev/null
  printf 'subjectAltName=IP:%s,IP:%s,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n' \
    "${IP[$CP]}" "$KUBERNETES_SERVICE_IP" > "$d/san.ext"
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
    echo "$(tok),system:flannel,flannel,"
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
  [ -d "$TRACK/daemons" ] || die "no lab cgroup $TRACK/daemons (is the lab up?)"
  mkdir -p "$LAB/logs" "$LAB/pids"
  # Join the daemons' cgroup first, so the daemon and everything it forks is in
  # the lab's cgroup from its first instruction on; exec all the way down, so
  # the recorded pid is the daemon's own.
  (
    echo "$BASHPID" > "$TRACK/daemons/cgroup.procs"
    # Keep only stdio: a daemon must not hold what its caller had open for
    # as long as it runs, such as the lock of `flock LOCK lab/lab.sh ...`.
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
    done
    exec nsenter --net="/run/netns/$P-$ns" setsid "$@" > "$LAB/logs/$name.log" 2>&1 < /dev/null
  ) &
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
  log "starting etcd and kube-apiserver on $CP"
  # etcd listens on 127.0.0.1 inside $CP's network namespace and keeps its data
  # in $LAB: an etcd of the machine's own (the root namespace's 127.0.0.1:2379,
  # /var/lib/etcd) cannot collide with it, and the lab never touches that one.
  start etcd "$CP" etcd --name lab --data-dir "$LAB/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster lab=http://127.0.0.1:2380
  start kube-apiserver "$CP" "$k/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="${IP[$CP]}" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
    --token-auth-file="$pki/tokens.csv" --authorization-mode=Node,RBAC \
    --service-cluster-ip-range="$(service_cidrs)" --service-node-port-range=30000-32767 \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --kubelet-preferred-address-types=InternalIP --allow-privileged=true --profiling=false
  kubeconfig "$LAB/admin.kubeconfig" admin
  kubeconfig "$LAB/viewer.kubeconfig" svccheck-viewer
  kubeconfig "$LAB/kcm.kubeconfig" system:kube-controller-manager kube-system
  kubeconfig "$LAB/sched.kubeconfig" system:kube-scheduler kube-system
  kubeconfig "$LAB/proxy.kubeconfig" system:kube-proxy kube-system
  kubeconfig "$LAB/flannel.kubeconfig" system:flannel kube-system
  wait_for "kube-apiserver /readyz" 60 in_ns operator "$LAB/bin/kubectl" --kubeconfig "$LAB/admin.kubeconfig" get --raw /readyz
  log "starting kube-controller-manager and kube-scheduler"
  start kube-controller-manager "$CP" "$k/kube-controller-manager" --kubeconfig="$LAB/kcm.kubeconfig" \
    --leader-elect=false --use-service-account-credentials=false --service-account-private-key-file="$pki/sa.key" \
    --root-ca-file="$pki/ca.crt" --cluster-cidr="$(cluster_cidrs)" --allocate-node-cidrs=false \
    --bind-address=127.0.0.1 --secure-port=10257 --controllers='*,-cloud-node-lifecycle'
  start kube-scheduler "$CP" "$k/kube-scheduler" --kubeconfig="$LAB/sched.kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port=10259
}

# lab_cgroups creates the lab's cgroup in every v1 hierarchy with a root per
# node below it (kubelet's cgroupRoot, where its containers go), and the
# daemons' cgroup in the pids hierarchy.
lab_cgroups() {
  [ -d /sys/fs/cgroup/pids ] || die "the lab needs cgroup v1 (no pids hierarchy at /sys/fs/cgroup/pids)"
  local h d n
  for h in /sys/fs/cgroup/*/; do
    h=${h%/}
    [ "${h##*/}" = unified ] && continue
    for n in "" "${NODES[@]}"; do
      d=$h/$CG${n:+/$n}
      mkdir -p "$d"
      if [ "${h##*/}" = cpuset ]; then # tasks can join a cpuset only once it has CPUs and memory nodes
        cat "$h/cpuset.cpus" > "$d/cpuset.cpus"
        cat "$h/cpuset.mems" > "$d/cpuset.mems"
      fi
    done
  done
  mkdir -p "$TRACK/daemons"
}

node_up() {
  local n=$1 d=$LAB/nodes/$1
  mkdir -p "$d/containerd" "$d/cni/net.d" "$d/cni/ipam" "$d/kubelet" "$d/etc"
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
  # With flannel, the CNI config waits for flanneld's subnet (flannel_up).
  [ "$LAB_CNI" = flannel ] || bridge_conflist "$n" 1500
  printf 'nameserver %s\n' "${NET[gateway]}" > "$d/etc/resolv.conf"
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
cgroupRoot: /$CG/$n
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$d/containerd.sock
resolvConf: $d/etc/resolv.conf
clusterDomain: cluster.local
$([ "$LAB_DNS" = none ] || echo "clusterDNS: [${NET[dns]}]")
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
EOF
  wait_for "containerd on $n" 30 ctr --address "$d/containerd.sock" version
  local img
  for img in "$LAB"/images/*.tar; do
    ctr --address "$d/containerd.sock" -n k8s.io images import "$img" >/dev/null
  done
  if [ "$LAB_DNS" = coredns ]; then
    ctr --address "$d/containerd.sock" -n k8s.io images import "$LAB/coredns/image.tar" >/dev/null
  fi
  start_kubelet "$n"
  cat > "$d/proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $LAB/proxy.kubeconfig}
mode: $LAB_PROXY
hostnameOverride: $n
clusterCIDR: $(cluster_cidrs)
bindAddress: ${IP[$n]}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 0.0.0.0:10256
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  start_proxy "$n"
}

# bridge_conflist NODE MTU writes the node's CNI config: a bridge with a
# host-local range per family of the node's pod subnets.
bridge_conflist() {
  local n=$1 mtu=$2 d=$LAB/nodes/$1 ranges routes
  ranges="[{\"subnet\": \"${PODNET[$n]}\"}]"
  routes='{"dst": "0.0.0.0/0"}'
  if dual; then
    ranges+=", [{\"subnet\": \"${PODNET6[$n]}\"}]"
    routes+=', {"dst": "::/0"}'
  fi
  cat > "$d/cni/net.d/10-lab.conflist.tmp" <<EOF
{"cniVersion": "0.4.0", "name": "lab", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true, "mtu": $mtu,
   "ipam": {"type": "host-local", "dataDir": "$d/cni/ipam", "ranges": [$ranges],
            "routes": [$routes]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
  mv "$d/cni/net.d/10-lab.conflist.tmp" "$d/cni/net.d/10-lab.conflist"
}

start_proxy() { start "kube-proxy-$1" "$1" "$KBIN/kube-proxy" --config="$LAB/nodes/$1/proxy.yaml"; }

# start_proxy_synced NODE starts NODE's kube-proxy and returns once it has
# written its rules.
start_proxy_synced() {
  start_proxy "$1"
  wait_for "kube-proxy on $1 to write its rules" 60 proxy_synced "$1"
}

# proxy_synced NODE: kube-proxy on NODE has synced its rules (and health
# check servers) at least once since it started, by its own metrics.
proxy_synced() {
  in_ns "$1" bash -c 'exec 3<>/dev/tcp/127.0.0.1/10249 && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3' |
    awk '/^kubeproxy_sync_proxy_rules_duration_seconds_count/ && $NF >= 1 {ok = 1} END {exit !ok}'
}

# start_kubelet NODE starts a node's kubelet at the node's current address:
# the topology's, or the one node-readdress gave it.
start_kubelet() {
  local n=$1 d=$LAB/nodes/$1 ips
  ips=$(node_ips "$n")
  if [ -s "$d/readdressed" ]; then ips=$(cat "$d/readdressed")${ips#"${IP[$n]}"}; fi
  start "kubelet-$n" "$n" "$KBIN/kubelet" --config="$d/kubelet.yaml" --kubeconfig="$d/kubelet.kubeconfig" \
    --root-dir="$d/kubelet" --cert-dir="$d/kubelet/pki" --node-ip="$ips" --hostname-override="$n" --v=1
}

# stop_daemon NAME stops one lab daemon by its recorded pid (only if that pid
# is still the lab's) and waits until it has exited.
stop_daemon() {
  local f=$LAB/pids/$1.pid pid
  pid=$(cat "$f" 2>/dev/null) || pid=
  lab_pid "$pid" || return 1
  kill -TERM "$pid" 2>/dev/null || true
  local end=$((SECONDS + 30))
  while running "$pid"; do # an exited daemon waiting to be reaped is gone
    [ $SECONDS -lt $end ] || die "$1 (pid $pid) did not exit within 30s of SIGTERM"
    sleep 0.1
  done
  rm -f "$f"
}

# addon_stop NAME stops a recorded add-on process (lab/addons): TERM, then
# KILL after 10 s; nothing when it is not running.
addon_stop() {
  local f=$LAB/pids/$1.pid pid
  pid=$(cat "$f" 2>/dev/null) || pid=
  if lab_pid "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    local end=$((SECONDS + 10))
    while running "$pid" && [ $SECONDS -lt $end ]; do sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# internal_ip NODE prints the first InternalIP in the Node's status.
internal_ip() {
  kc get node "$1" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}' | awk '{print $1}'
}

# has_internal_ip NODE IP: the Node's status names IP as its InternalIP.
has_internal_ip() { [ "$(internal_ip "$1")" = "$2" ]; }

# used_lab_ips prints the lab network's addresses in use: the topology's nodes,
# hosts and gateway, and the addresses node-readdress gave nodes.
used_lab_ips() {
  local h
  echo "${NET[gateway]}"
  for h in "${NODES[@]}" "${HOSTS[@]}"; do
    echo "${IP[$h]}"
    [ ! -s "$LAB/nodes/$h/readdressed" ] || cat "$LAB/nodes/$h/readdressed"
  done
}

# free_lab_ip prints the highest address of the lab network below the gateway
# that used_lab_ips does not list.
free_lab_ip() {
  local a b c d len=${NET[lab]#*/} net n ip h used
  used=" $(used_lab_ips | paste -sd ' ') "
  net=$(ipv4_net "${NET[lab]}")
  IFS=. read -r a b c d <<< "${net%/*}"
  n=$((a << 24 | b << 16 | c << 8 | d))
  IFS=. read -r a b c d <<< "${NET[gateway]}"
  for ((ip = (a << 24 | b << 16 | c << 8 | d) - 1; ip > n; ip--)); do
    h="$((ip >> 24 & 255)).$((ip >> 16 & 255)).$((ip >> 8 & 255)).$((ip & 255))"
    [ "$(ipv4_net "$h/$len")" = "$net" ] || break
    if [[ $used != *" $h "* ]]; then echo "$h"; return; fi
  done
  die "no free address in ${NET[lab]}"
}

# node_readdress NODE [IP] moves a worker's address for real, to IP (default:
# a free address of the lab network): IP joins the node's eth0, the other
# nodes route its pod subnet through IP, the old address leaves eth0, and its
# kubelet (--node-ip, serving address) and kube-proxy (bindAddress) restart
# on IP, so Node.status.addresses names IP alone. Its pods keep running.
# Prints IP. node_readdress NODE --restore moves it back the same way.
node_readdress() {
  local n=${1:?node name} to=${2:-} d=$LAB/nodes/${1:-} from len=${NET[lab]#*/} m ps proxy=
  [ -n "${PODNET[$n]:-}" ] || die "no node $n in $TOPOLOGY"
  [ "$n" != "$CP" ] || die "$n runs the control plane at ${IP[$n]} (every kubeconfig names it): readdress a worker"
  [ "$LAB_CNI" = bridge ] || die "node-readdress needs --cni bridge (flannel's VXLAN endpoints are the nodes' addresses)"
  [ -f "$d/kubelet.yaml" ] || die "node $n is not up"
  from=$(cat "$d/readdressed" 2>/dev/null) || from=${IP[$n]}
  if [ "$to" = --restore ]; then
    [ "$from" != "${IP[$n]}" ] || { log "$n is at its topology address ${IP[$n]}"; echo "$from"; return; }
    to=${IP[$n]}
  else
    [ "$from" = "${IP[$n]}" ] || die "$n is already at $from (node-readdress $n --restore first)"
    [ -n "$to" ] || to=$(free_lab_ip)
    if ! [[ $to =~ ^[0-9]+(\.[0-9]+){3}$ ]] || [ "$(ipv4_net "$to/$len")" != "$(ipv4_net "${NET[lab]}")" ]; then
      die "$to is not an IPv4 address of the lab network ${NET[lab]}"
    fi
    [[ " $(used_lab_ips | paste -sd ' ') " != *" $to "* ]] || die "$to is taken"
  fi
  log "moving $n from $from to $to (kubelet and kube-proxy restart there)"
  # Recorded first and every step idempotent: after a failure half-way,
  # --restore moves the node back from wherever it got.
  if [ "$to" = "${IP[$n]}" ]; then rm -f "$d/readdressed"; else echo "$to" > "$d/readdressed"; fi
  in_ns "$n" ip addr replace "$to/$len" dev eth0
  for m in "${NODES[@]}"; do
    [ "$m" = "$n" ] || in_ns "$m" ip route replace "${PODNET[$n]}" via "$to"
  done
  # The old address is eth0's primary one: deleting it would take the
  # secondary (new) one along unless the kernel promotes it, for this delete.
  ps=$(in_ns "$n" cat /proc/sys/net/ipv4/conf/eth0/promote_secondaries)
  in_ns "$n" sh -c 'echo 1 > /proc/sys/net/ipv4/conf/eth0/promote_secondaries'
  if [[ $(in_ns "$n" ip -4 -o addr show dev eth0) = *" $from/"* ]]; then in_ns "$n" ip addr del "$from/$len" dev eth0; fi
  in_ns "$n" sh -c "echo $ps > /proc/sys/net/ipv4/conf/eth0/promote_secondaries"
  in_ns "$n" ip route replace default via "${NET[gateway]}" # gone if it hung on the old address
  sed -i "s/^address: .*/address: $to/" "$d/kubelet.yaml"
  sed -i "s/^bindAddress: .*/bindAddress: $to/" "$d/proxy.yaml"
  stop_daemon "kubelet-$n" || log "no kubelet was running on $n"
  start_kubelet "$n"
  # A kube-proxy stopped on purpose (proxy-stop) stays stopped.
  if stop_daemon "kube-proxy-$n"; then proxy=1; start_proxy "$n"; fi
  wait_for "node $n to report InternalIP $to" 60 has_internal_ip "$n" "$to"
  wait_for "node $n Ready" 60 healthy
  log "$n is at $to${proxy:+ (kube-proxy restarted)}"
  echo "$to"
}

# stop_proxy kills a node's kube-proxy and removes its rules, as if it had
# never run there: that node's NodePorts and ClusterIPs stop forwarding.
stop_proxy() {
  local f=$LAB/pids/kube-proxy-$1.pid pid
  pid=$(cat "$f" 2>/dev/null) || pid=
  lab_pid "$pid" || die "no kube-proxy running on $1"
  kill -TERM "$pid" 2>/dev/null || true
  while running "$pid"; do sleep 0.1; done
  rm -f "$f"
  in_ns "$1" "$KBIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # Connections its rules translated leave conntrack entries (TIME_WAIT for
  # two minutes) that would still translate a new connection reusing their
  # ports: the node keeps no trace of its rules.
  in_ns "$1" conntrack -F >/dev/null 2>&1 || true
}

kc() { in_ns operator "$LAB/bin/kubectl" --kubeconfig "$LAB/admin.kubeconfig" "$@"; }

# ---------------------------------------------------------------- dataplane add-ons
# build_dataplane builds what the chosen dataplane runs besides Kubernetes, from
# Go modules cached by version (lab/build-dataplane.sh), and CoreDNS's image.
build_dataplane() {
  if [ "$LAB_DNS" = coredns ]; then
    local bin img=$LAB/coredns/coredns-$COREDNS_VERSION.tar
    log "building CoreDNS $COREDNS_VERSION (cached in $CACHE)"
    bin=$("$here/build-dataplane.sh" coredns)
    mkdir -p "$LAB/coredns"
    if [ ! -s "$img" ] || [ "$bin" -nt "$img" ]; then
      "$LAB/bin/mkimage" -binary "$bin" -tag "$COREDNS_IMAGE" -o "$img.tmp"
      mv "$img.tmp" "$img"
    fi
    ln -sf "${img##*/}" "$LAB/coredns/image.tar"
  fi
  if [ "$LAB_CNI" = flannel ]; then
    log "building flannel $FLANNEL_VERSION (cached in $CACHE)"
    FLANNEL_BIN=$("$here/build-dataplane.sh" flannel)
  fi
}

# coredns_apply deploys CoreDNS as kube-system/kube-dns at the topology's
# ClusterIP; pods resolve through it (kubelet's clusterDNS).
coredns_apply() {
  sed -e "s|@DNS_IP@|${NET[dns]}|" -e "s|@DOMAIN@|cluster.local|" -e "s|@IMAGE@|$COREDNS_IMAGE|" \
    "$here/manifests/coredns.yaml" | kc apply -f - >/dev/null
}

# ipv4_net A.B.C.D/N prints the network of an address: 10.251.1.1/24 -> 10.251.1.0/24.
ipv4_net() {
  local a b c d len=${1#*/} n
  IFS=. read -r a b c d <<< "${1%/*}"
  n=$(( (a << 24 | b << 16 | c << 8 | d) & (0xffffffff << (32 - len)) & 0xffffffff ))
  echo "$((n >> 24 & 255)).$((n >> 16 & 255)).$((n >> 8 & 255)).$((n & 255))/$len"
}

# flannel_up runs flanneld (VXLAN, --kube-subnet-mgr) on every node as a host
# process in its network namespace. Each Node gets the topology's pod subnet
# as its podCIDR; flanneld leases it, writes its subnet file (one path per
# node) and builds flannel.1; the node's bridge CNI config is then written
# from that file, as flannel's own CNI plugin (not in Debian's CNI plugins)
# would delegate to the bridge plugin.
flannel_up() {
  kc apply -f "$here/manifests/flannel.yaml" >/dev/null
  local n d net6=
  for n in "${NODES[@]}"; do
    wait_for "node $n to register" 60 kc get node "$n"
    kc patch node "$n" --type merge -p "{\"spec\": {\"podCIDR\": \"${PODNET[$n]}\", \"podCIDRs\": $(pod_cidrs_json "$n")}}" >/dev/null
  done
  if dual; then net6=", \"EnableIPv6\": true, \"IPv6Network\": \"${NET[cluster6]}\""; fi
  for n in "${NODES[@]}"; do
    d=$LAB/nodes/$n/flannel
    mkdir -p "$d"
    printf '{"Network": "%s"%s, "Backend": {"Type": "vxlan"}}\n' "${NET[cluster]}" "$net6" > "$d/net-conf.json"
    start "flanneld-$n" "$n" env NODE_NAME="$n" "$FLANNEL_BIN" --kube-subnet-mgr \
      --kubeconfig-file="$LAB/flannel.kubeconfig" --iface=eth0 --ip-masq=false \
      --subnet-file="$d/subnet.env" --net-config-path="$d/net-conf.json"
  done
  for n in "${NODES[@]}"; do
    d=$LAB/nodes/$n/flannel
    wait_for "flanneld's subnet file on $n" 60 test -s "$d/subnet.env"
    local subnet mtu
    subnet=$(sed -n 's/^FLANNEL_SUBNET=//p' "$d/subnet.env")
    mtu=$(sed -n 's/^FLANNEL_MTU=//p' "$d/subnet.env")
    [ "$(ipv4_net "$subnet")" = "${PODNET[$n]}" ] || die "flanneld on $n leased $subnet, not its podCIDR ${PODNET[$n]}"
    bridge_conflist "$n" "${mtu:-1450}"
  done
}

healthy() {
  [ -e "/run/netns/$P-operator" ] || return 1
  local ready
  ready=$(timeout 20 nsenter --net="/run/netns/$P-operator" "$LAB/bin/kubectl" --kubeconfig "$LAB/admin.kubeconfig" \
    --request-timeout=10s get nodes -l '!svccheck.dev/sim' -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c True) || return 1
  [ "$ready" = "${#NODES[@]}" ]
}

up() {
  need_root
  dataplane_flags "$@"
  ensure_packages
  build
  build_dataplane
  if healthy && [ "$(dataplane)" = "$(cat "$LAB/dataplane" 2>/dev/null)" ]; then
    log "lab already up: $API (${#NODES[@]} nodes Ready), dataplane: $(dataplane | paste -sd ' ')"
    return
  fi
  down quiet
  SECONDS=0
  mkdir -p "$LAB"
  dataplane > "$LAB/dataplane"
  net_up
  lab_cgroups
  pki
  control_plane
  if [ "$LAB_DNS" = coredns ]; then coredns_apply; fi
  local n
  for n in "${NODES[@]}"; do
    log "starting containerd, kubelet and kube-proxy on $n"
    node_up "$n"
  done
  if [ "$LAB_CNI" = flannel ]; then
    log "starting flanneld (VXLAN) on every node"
    flannel_up
  fi
  wait_for "every node Ready" 90 healthy
  wait_for "the default ServiceAccount" 60 kc get serviceaccount default -n default
  kc apply -f "$here/rbac-viewer.yaml" >/dev/null
  if [ "$LAB_DNS" = coredns ]; then
    wait_for "CoreDNS to be ready (kube-system/kube-dns)" 90 has_ready_endpoints_in kube-system kube-dns 1
  fi
  log "lab up in ${SECONDS}s: ${#NODES[@]} nodes Ready, API $API, operator ${IP[operator]}, dataplane: $(dataplane | paste -sd ' ')"
  log "run commands as the operator host: lab/lab.sh exec -- kubectl get nodes"
}

# ---------------------------------------------------------------- teardown
# lab_pid PID: PID is a process of the lab's (in its cgroup), not one that
# reused the number of a lab process that died with the machine.
lab_pid() { [[ $1 =~ ^[0-9]+$ ]] && grep -q "^[0-9]*:pids:/$CG/" "/proc/$1/cgroup" 2>/dev/null; }

# running PID: PID has not exited. A daemon the lab started is reparented to
# this machine's init, which may reap it seconds after it exits: until then
# kill -0 still finds it, as a zombie.
running() { local st; st=$(cat "/proc/$1/stat" 2>/dev/null) && [ "$(awk '{print $1}' <<< "${st##*) }")" != Z ]; }

# lab_pids prints every process of the lab's: all in its cgroups (daemons,
# shims, containers) and any other in its network namespaces (e.g. a command
# left running by lab.sh exec or node). Both only hold what the lab started.
lab_pids() {
  find /sys/fs/cgroup/*/"$CG" -name cgroup.procs -exec cat {} + 2>/dev/null || true
  local -A netns=()
  local ns path
  while read -r ns; do netns[$ns]=1; done < <(stat -L -c 'net:[%i]' /run/netns/"$P"-* 2>/dev/null)
  [ ${#netns[@]} -gt 0 ] || return 0
  # (find fails on processes that exit while it runs: what it printed holds)
  find /proc/[0-9]*/ns/net -maxdepth 0 -printf '%l %p\n' 2>/dev/null | while read -r ns path; do
    if [ -n "${netns[$ns]:-}" ]; then path=${path#/proc/}; echo "${path%%/*}"; fi
  done || true
}

down() {
  need_root
  [ "${1:-}" = quiet ] || log "tearing down the lab"
  local f pid pids c
  # Daemons first, so nothing restarts containers while they are killed: the
  # recorded ones (if still the lab's), then any whose pid file a crash lost.
  for f in "$LAB"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if lab_pid "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$f"
  done
  if [ -f "$TRACK/daemons/cgroup.procs" ]; then
    xargs -r kill -KILL < "$TRACK/daemons/cgroup.procs" 2>/dev/null || true
  fi
  # Then every other process of the lab's: container shims, pod processes.
  local end=$((SECONDS + 15))
  while pids=$(lab_pids | sort -u) && [ -n "$pids" ]; do
    echo "$pids" | xargs -r kill -KILL 2>/dev/null || true
    [ $SECONDS -lt $end ] || { log "warning: lab processes still alive: ${pids//$'\n'/ }"; break; }
    sleep 0.2
  done
  # Mounts under the lab dir (container rootfs, pod netns, kubelet volumes), deepest first.
  if [ -d "$LAB" ]; then
    awk -v p="$LAB/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
  fi
  # The lab's namespaces: every one with its prefix, whatever topology made them.
  for f in /run/netns/"$P"-*; do
    [ -e "$f" ] && { ip netns del "${f##*/}" 2>/dev/null || true; }
  done
  # Cgroups, deepest first; an emptied cgroup can take a moment to be removable.
  end=$((SECONDS + 15))
  while :; do
    local left=()
    for c in /sys/fs/cgroup/*/"$CG"; do
      [ -d "$c" ] || continue
      find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "$c" ] && left+=("$c")
    done
    [ ${#left[@]} = 0 ] && break
    [ $SECONDS -lt $end ] || { log "warning: cgroups not removable: ${left[*]}"; break; }
    sleep 0.3
  done
  # State of this run; the build cache, certificates and images stay.
  rm -rf "$LAB/etcd" "$LAB/nodes" "$LAB/logs" "$LAB/pids" "$LAB/dataplane"
  [ "${1:-}" = quiet ] || log "lab down"
}

has_ready_endpoints() { has_ready_endpoints_in default "$@"; } # SERVICE N

has_ready_endpoints_in() { # NAMESPACE SERVICE N
  local got
  got=$(kc get endpointslices -n "$1" -l "kubernetes.io/service-name=$2" \
    -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}x{end}')
  [ "${#got}" -ge "$3" ]
}

proxied_everywhere() { # SERVICE_PORT N: every node's kube-proxy forwards to N endpoints
  local n got
  for n in "${NODES[@]}"; do
    if [ "$LAB_PROXY" = nftables ]; then
      got=$(nft_endpoints "$n" "$1") || return 1
    else
      got=$(in_ns "$n" iptables-save -t nat | grep -c -- "-A KUBE-SVC-.* --comment \"$1 -> ") || return 1
    fi
    [ "${got:-0}" -ge "$2" ] || return 1
  done
}

# nft_endpoints NODE NAMESPACE/NAME:PORT counts the endpoints of a TCP
# Service port in kube-proxy's nftables table on NODE: the entries of the
# numgen vmap in its service chain (service-HASH-NAMESPACE/NAME/tcp/PORT).
nft_endpoints() {
  local suffix="-${2%:*}/tcp/${2##*:}"
  in_ns "$1" nft list table ip kube-proxy | awk -v s="$suffix" '
    $1 == "chain" { here = $2 ~ /^service-/ && substr($2, length($2) - length(s) + 1) == s }
    here && /vmap/ { print gsub(/goto endpoint-/, ""); exit }'
}

# answers_from IP PORT N: from the operator host, at most 40 HTTP connections
# to IP:PORT see N distinct hostname pods answer (the dataplane has converged).
answers_from() {
  # shellcheck disable=SC2016 # the script expands its own arguments, in the operator's shell
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
    kc get nodes -l '!svccheck.dev/sim' -o wide
    if "$here/sim.sh" status >/dev/null 2>&1; then
      echo "scale lab: $(kc get nodes -l svccheck.dev/sim --no-headers | wc -l) simulated nodes (lab/lab.sh sim-status)"
    fi
    echo "dataplane: $(paste -sd ' ' "$LAB/dataplane" 2>/dev/null || echo unknown)"
    return 0
  fi
  echo "lab is not up" >&2
  return 1
}

# ---------------------------------------------------------------- optional add-ons
# NetworkPolicy (kube-network-policies, lab/addons/policy.sh) and
# LoadBalancer (MetalLB in L2 mode, lab/addons/metallb.sh), both off by
# default: LAB_POLICY=kube-network-policies and LAB_LB=metallb turn them on
# at `up` (which turns them off without), or on a running lab:
#   lab/lab.sh policy-on | policy-off | policy-stop NODE | policy-start NODE
#   lab/lab.sh lb-on | lb-off | speaker-stop NODE | speaker-start NODE
#   lab/lab.sh proxy-isolate NODE | proxy-rejoin NODE
# shellcheck source=/dev/null # linted on its own (make lint)
. "$here/addons/policy.sh"
# shellcheck source=/dev/null # linted on its own (make lint)
. "$here/addons/metallb.sh"

cmd=${1:-}
shift || true
[ "$cmd" = up ] || load_dataplane
case "$cmd" in
  up) up "$@"; addons_up ;;
  policy-on | policy-off | policy-stop | policy-start | lb-on | lb-off | speaker-stop | speaker-start | proxy-isolate | proxy-rejoin)
    addon_cmd "$cmd" "$@" ;;
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
  proxy-start)
    KBIN=$CACHE/k8s/$K8S_VERSION/bin; start_proxy_synced "${1:?node name}" ;;
  node-readdress) need_root; KBIN=$CACHE/k8s/$K8S_VERSION/bin; node_readdress "$@" ;;
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
  sim) "$here/sim.sh" up "$@" ;;
  sim-fault) "$here/sim.sh" fault "$@" ;;
  sim-status) "$here/sim.sh" status ;;
  sim-down) "$here/sim.sh" down ;;
  pid | remember | api-pause | api-resume | api-freeze | api-stop | api-start | api-restart | cp-restart | kubelet-stop | kubelet-start | node-lose | node-restore | agent-kill)
    # shellcheck source=lab/faults.sh
    . "$here/faults.sh"; fault "$cmd" "$@" ;; # fault injection: lab/faults.sh says what each does
  *) sed -n '2,/^# Dataplane, per run/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 2 ;;
esac
