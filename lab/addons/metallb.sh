# shellcheck shell=bash disable=SC2154 # sourced by lab.sh, which defines here, LAB, NODES, CP, API...
# LoadBalancer in the lab: MetalLB (go.universe.tf/metallb, built from its Go
# module by lab/addons/build.sh) in L2 mode, its controller on the control
# plane node and a speaker on every node, as host processes in the nodes'
# network namespaces (started by lab.sh, pids recorded), each with a token of
# its ServiceAccount. LoadBalancer Services get addresses from a pool on the
# lab network (LAB_LB_POOL, default 10.250.0.200-10.250.0.220), which the
# elected speaker answers ARP for on the node's eth0: reachable from the
# operator host, and only inside the lab. Memberlist is off (no secret, no
# bind address): every node counts as having a live speaker, so a speaker
# that dies is not replaced by another, as with a partitioned memberlist.
# Sourced by lab.sh.
#
#   lb-on / lb-off                    MetalLB on / off (off removes its objects)
#   speaker-stop NODE / speaker-start NODE   break / mend one node's speaker
#   proxy-isolate NODE / proxy-rejoin NODE   cut / restore the API server
#                                     connection of NODE's kube-proxy only: it
#                                     keeps serving its last state (a stale
#                                     health check) while kubelet stays Ready

LB_POOL=${LAB_LB_POOL:-10.250.0.200-10.250.0.220}
LB_NS=metallb-system
# An address of the API server that only isolated kube-proxies use, on the
# control plane node's loopback (answered by ARP on the lab network).
API_ALT=${LAB_API_ALT:-10.250.0.240}

mlb_dir() { MLB_DIR=$("$here/addons/build.sh" metallb); }

# metallb_manifest prints MetalLB's manifest without what runs it as pods
# (Deployment, DaemonSet) and the webhook the lab's controller does not serve
# (its Service, the ValidatingWebhookConfiguration).
metallb_manifest() {
  awk '
    function flush() {
      if (doc != "" && kind !~ /^(Deployment|DaemonSet|ValidatingWebhookConfiguration|Service)$/) printf "%s---\n", doc
      doc = ""; kind = ""
    }
    $0 == "---" { flush(); next }
    /^kind: / { kind = $2 }
    { doc = doc $0 "\n" }
    END { flush() }' "$MLB_DIR/metallb-native.yaml"
}

# metallb_pods prints a pod per MetalLB process (controller, speaker-NODE),
# each running the pause image on the process's node: MetalLB looks its own
# pod up to own what it creates (ConfigurationState), so each host process
# gets one to stand for it.
metallb_pods() {
  local name node
  for name in controller "${NODES[@]/#/speaker-}"; do
    node=${name#speaker-}
    [ "$name" = controller ] && node=$CP
    cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $name, namespace: $LB_NS, labels: {app.kubernetes.io/name: metallb-host-process}}
spec:
  nodeName: $node
  terminationGracePeriodSeconds: 0
  automountServiceAccountToken: false
  containers: [{name: pause, image: $PAUSE_IMAGE, imagePullPolicy: Never}]
---
EOF
  done
}

lb_running() { # [NAME]: a MetalLB process runs (that one, or any)
  local f pid
  local glob=${1:-*}
  # shellcheck disable=SC2231 # the glob is meant
  for f in "$LAB"/pids/metallb-$glob.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if lab_pid "$pid"; then return 0; fi
  done
  return 1
}

lb_on() {
  mlb_dir
  # lb-off deletes the namespace without waiting: a quick lb-on after it
  # waits for that deletion to end (nothing can be created in it until then).
  if [ "$(kc get namespace "$LB_NS" -o jsonpath='{.status.phase}' 2>/dev/null)" = Terminating ]; then
    kc wait --for=delete "namespace/$LB_NS" --timeout=120s >/dev/null
  fi
  metallb_manifest | kc apply --server-side --force-conflicts -f - >/dev/null
  kc wait --for condition=established --timeout=60s crd/ipaddresspools.metallb.io crd/l2advertisements.metallb.io >/dev/null
  sed "s|@POOL@|$LB_POOL|" "$here/manifests/metallb-pool.yaml" | kc apply -f - >/dev/null
  metallb_pods | kc apply -f - >/dev/null
  addon_kubeconfig "$LAB/metallb-controller.kubeconfig" controller "$LB_NS"
  addon_kubeconfig "$LAB/metallb-speaker.kubeconfig" speaker "$LB_NS"
  lb_running controller || start metallb-controller "$CP" env KUBECONFIG="$LAB/metallb-controller.kubeconfig" \
    METALLB_NAMESPACE="$LB_NS" METALLB_POD_NAME=controller "$MLB_DIR/controller" \
    --webhook-mode=disabled --port=0 --health-probe-port=7572 --log-level=info
  local n
  for n in "${NODES[@]}"; do
    lb_running "speaker-$n" || speaker_start "$n"
  done
  wait_for "MetalLB's controller to start" 60 grep -q 'MetalLB controller starting' "$LAB/logs/metallb-controller.log"
  log "MetalLB (L2) on: pool $LB_POOL, speakers on ${NODES[*]}"
}

speaker_start() {
  [ -n "${MLB_DIR:-}" ] || mlb_dir
  [ -s "$LAB/metallb-speaker.kubeconfig" ] || die "MetalLB was never turned on (lab.sh lb-on)"
  start "metallb-speaker-$1" "$1" env KUBECONFIG="$LAB/metallb-speaker.kubeconfig" METALLB_NODE_NAME="$1" \
    METALLB_NAMESPACE="$LB_NS" METALLB_POD_NAME="speaker-$1" "$MLB_DIR/speaker" --port=0 --log-level=info
}

speaker_stop() { addon_stop "metallb-speaker-$1"; }

lb_off() {
  local n
  for n in "${NODES[@]}"; do speaker_stop "$n"; done
  addon_stop metallb-controller
  rm -f "$LAB/metallb-controller.kubeconfig" "$LAB/metallb-speaker.kubeconfig"
  if [ -f "$LAB/admin.kubeconfig" ] && kc get namespace "$LB_NS" >/dev/null 2>&1; then
    mlb_dir
    kc delete namespace "$LB_NS" --wait=false >/dev/null 2>&1 || true
    metallb_manifest | kc delete --ignore-not-found --wait=false -f - >/dev/null 2>&1 || true
  fi
  log "MetalLB off"
}

# proxy_isolate NODE restarts NODE's kube-proxy through an API server address
# of its own, then drops that address on NODE: kube-proxy keeps its last
# rules and health checks, and learns nothing more, while kubelet (which
# uses the usual address) keeps the node Ready.
proxy_isolate() {
  local n=$1 d=$LAB/nodes/$1
  in_ns "$CP" ip addr replace "$API_ALT/32" dev lo
  sed -e "s|server: $API|server: https://$API_ALT:6443|" -e '/certificate-authority:/a\    tls-server-name: kubernetes' \
    "$LAB/proxy.kubeconfig" > "$d/proxy-isolated.kubeconfig"
  sed "s|kubeconfig: $LAB/proxy.kubeconfig|kubeconfig: $d/proxy-isolated.kubeconfig|" "$d/proxy.yaml" > "$d/proxy-isolated.yaml"
  addon_stop "kube-proxy-$n"
  start "kube-proxy-$n" "$n" "$KBIN/kube-proxy" --config="$d/proxy-isolated.yaml"
  wait_for "kube-proxy on $n to sync through $API_ALT and write its rules and health checks" 60 proxy_synced "$n"
  # Both directions: with only its requests dropped, the watch events the
  # API server already streams would still arrive (unacknowledged, yet read).
  in_ns "$n" iptables -I OUTPUT 1 -d "$API_ALT" -p tcp --dport 6443 -m comment --comment svccheck-lab-isolate -j DROP
  in_ns "$n" iptables -I INPUT 1 -s "$API_ALT" -p tcp --sport 6443 -m comment --comment svccheck-lab-isolate -j DROP
  log "kube-proxy on $n cut from the API server (it keeps its last state)"
}

proxy_rejoin() {
  local n=$1
  while in_ns "$n" iptables -D OUTPUT -d "$API_ALT" -p tcp --dport 6443 -m comment --comment svccheck-lab-isolate -j DROP 2>/dev/null; do :; done
  while in_ns "$n" iptables -D INPUT -s "$API_ALT" -p tcp --sport 6443 -m comment --comment svccheck-lab-isolate -j DROP 2>/dev/null; do :; done
  addon_stop "kube-proxy-$n"
  start_proxy_synced "$n"
  log "kube-proxy on $n back on the API server"
}

# addons_up makes the optional add-ons what LAB_POLICY and LAB_LB say, after
# `up`: on when set, off (the default lab) when not.
addons_up() {
  case ${LAB_POLICY:-} in
    kube-network-policies) policy_on ;;
    "" | none) if policy_running || [ -e "$LAB/knp.kubeconfig" ]; then policy_off; fi ;;
    *) die "LAB_POLICY: kube-network-policies or none, not $LAB_POLICY" ;;
  esac
  case ${LAB_LB:-} in
    metallb) lb_on ;;
    "" | none) if lb_running || [ -e "$LAB/metallb-speaker.kubeconfig" ]; then lb_off; fi ;;
    *) die "LAB_LB: metallb or none, not $LAB_LB" ;;
  esac
}

# addon_cmd runs one of the add-ons' commands.
addon_cmd() {
  local cmd=$1
  shift
  KBIN=$CACHE/k8s/$K8S_VERSION/bin
  case $cmd in
    policy-on) policy_on ;;
    policy-off) policy_off ;;
    policy-stop) policy_stop "${1:?node name}" ;;
    policy-start) policy_start "${1:?node name}" ;;
    lb-on) lb_on ;;
    lb-off) lb_off ;;
    speaker-stop) speaker_stop "${1:?node name}" ;;
    speaker-start) speaker_start "${1:?node name}" ;;
    proxy-isolate) proxy_isolate "${1:?node name}" ;;
    proxy-rejoin) proxy_rejoin "${1:?node name}" ;;
  esac
}
