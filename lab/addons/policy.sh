# shellcheck shell=bash disable=SC2154 # sourced by lab.sh, which defines here, LAB, NODES, CP, API...
# NetworkPolicy in the lab: kube-network-policies (sigs.k8s.io, built from
# its Go module by lab/addons/build.sh) on every node as a host process in
# the node's network namespace, like kube-proxy: started by lab.sh, its pid
# recorded, with a kubeconfig holding its ServiceAccount's token. It puts the
# packets of pods that policies select through nfqueue (an nftables table
# "kube-network-policies" per node) and decides on each new connection.
# Sourced by lab.sh, whose helpers (start, addon_stop, in_ns, kc, wait_for, log, die) it
# uses.
#
#   policy-on / policy-off        start it on every node / stop it everywhere
#   policy-stop NODE / policy-start NODE   stop it on one node (its rules go,
#                                 the policies stay: not enforced there) / again

KNP_TABLE=kube-network-policies

knp_bin() { KNP_BIN=$("$here/addons/build.sh" kube-network-policies)/kube-network-policies; }

# addon_kubeconfig FILE SERVICEACCOUNT NAMESPACE writes a kubeconfig holding
# a token of the ServiceAccount (TokenRequest, 30 days).
addon_kubeconfig() {
  local token
  token=$(kc -n "$3" create token "$2" --duration=720h)
  umask 077
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: svccheck-lab
  cluster: {server: "$API", certificate-authority: "$LAB/pki/ca.crt"}
users:
- name: $2
  user: {token: "$token"}
contexts:
- name: svccheck-lab
  context: {cluster: svccheck-lab, user: "$2", namespace: "$3"}
current-context: svccheck-lab
EOF
}

ensure_nft() {
  command -v nft >/dev/null && return
  log "installing nftables (nft, to inspect and clean the engine's table)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nftables >/dev/null
}

policy_running() { # [NODE]: kube-network-policies runs (on NODE, or on any node)
  local f pid
  local glob=${1:-*}
  # shellcheck disable=SC2231 # the glob is meant
  for f in "$LAB"/pids/knp-$glob.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if lab_pid "$pid"; then return 0; fi
  done
  return 1
}

policy_on() {
  ensure_nft
  knp_bin
  kc apply -f "$here/manifests/kube-network-policies.yaml" >/dev/null
  addon_kubeconfig "$LAB/knp.kubeconfig" kube-network-policies kube-system
  local n
  for n in "${NODES[@]}"; do
    policy_running "$n" || policy_start "$n"
  done
  log "kube-network-policies enforcing NetworkPolicy on ${NODES[*]}"
}

# policy_start NODE starts the engine on NODE and waits for its table.
policy_start() {
  [ -n "${KNP_BIN:-}" ] || knp_bin
  [ -s "$LAB/knp.kubeconfig" ] || die "kube-network-policies was never turned on (lab.sh policy-on)"
  start "knp-$1" "$1" env KUBECONFIG="$LAB/knp.kubeconfig" "$KNP_BIN" --hostname-override="$1" \
    --metrics-bind-address=127.0.0.1:9080 --nfqueue-id=100
  wait_for "kube-network-policies' nftables table on $1" 60 in_ns "$1" nft list table inet "$KNP_TABLE"
}

# policy_stop NODE stops the engine on NODE as an operator would stop its
# DaemonSet pod and removes its table, as its own shutdown would (it handles
# SIGINT only, which a background process of a script ignores): the node then
# enforces nothing, whatever the policies say.
policy_stop() {
  addon_stop "knp-$1"
  in_ns "$1" nft delete table inet "$KNP_TABLE" 2>/dev/null || true
}

policy_off() {
  local n
  for n in "${NODES[@]}"; do policy_stop "$n"; done
  rm -f "$LAB/knp.kubeconfig"
  log "kube-network-policies stopped: NetworkPolicy is not enforced"
}
