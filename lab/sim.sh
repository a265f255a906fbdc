#!/usr/bin/env bash
# The scale lab: simulated nodes added to the running lab (lab/lab.sh sim N).
#
#   lab/sim.sh up N [--services S] [--pods P] [--nodeport-every M] [--manual-slices]
#                  add N simulated nodes (default: 200 NodePort Services, 5 pods each)
#   lab/sim.sh fault [--refuse-node X] [--drop-node X] [--firewall-node X]
#                    [--broken-service S] [--bad-backend NODE/SERVICE[/POD]] | --clear
#                  set the simulated dataplane's faults (repeatable; replaces the last set)
#   lab/sim.sh status   print the simulation's status (shape, faults in force); exit 1 when down
#   lab/sim.sh down     remove every object, route, namespace and process it made
#
# The Go program lab/sim (svccheck-sim) creates the API objects (Nodes kept
# Ready through their Leases, Services, Pods bound to the simulated nodes
# with Ready status, so the cluster's EndpointSlice controller builds the
# slices) and is the simulated dataplane. It runs in one network namespace,
# $P-sim, with one veth on the lab bridge at SIM_IP that owns every simulated
# node address (NODE_NET, one address each) and, through a local route,
# every simulated pod address (POD_NET). The operator routes NODE_NET to
# SIM_IP (pods stay unreachable from outside, as in the real cluster); the
# real nodes route both, so their kube-proxy forwards their own NodePorts of
# simulated Services to simulated pods, which answer. Nothing leaves the
# lab's namespaces.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
LAB=${SVCCHECK_LAB_DIR:-/var/lib/svccheck-lab}
P=svccheck
NS=$P-sim
SIM_IP=10.250.0.250
NODE_NET=10.253.0.0/16
POD_NET=10.254.0.0/16
TRACK=/sys/fs/cgroup/pids/svccheck-lab
STATE=$LAB/sim
PIDFILE=$LAB/pids/sim.pid

log() { printf '[sim %5ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "the scale lab needs root"

# The lab's real nodes and the operator, from lab/topology.
NODES=()
OPERATOR=
LABNET=
while read -r kind name addr _; do
  case $kind in
    node) NODES+=("$name") ;;
    host) [ "$name" = operator ] && OPERATOR=$addr ;;
    net) [ "$name" = lab ] && LABNET=$addr ;;
  esac
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/topology")
if [ -z "$OPERATOR" ] || [ -z "$LABNET" ]; then die "lab/topology names no operator host or lab network"; fi

kc() { nsenter --net="/run/netns/$P-operator" "$LAB/bin/kubectl" --kubeconfig "$LAB/admin.kubeconfig" "$@"; }

# sim_pid prints the simulation's pid when it runs: the recorded pid, if it
# is still a process of the lab's (in its cgroup, not a pid reused since).
sim_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && grep -q "^[0-9]*:pids:/svccheck-lab/" "/proc/$pid/cgroup" 2>/dev/null || return 1
  echo "$pid"
}

# node_addrs N prints ip -batch lines giving the namespace the first N
# simulated node addresses, as lab/sim numbers them (.1 to .254 of each /24).
node_addrs() {
  local i base=${NODE_NET%.*.*}
  for ((i = 0; i < $1; i++)); do
    echo "addr add $base.$((i / 254)).$((i % 254 + 1))/32 dev eth0"
  done
}

net_up() { # N
  ip netns add "$NS"
  ip -n "$P-lab" link add v-sim type veth peer name eth0 netns "$NS"
  ip -n "$P-lab" link set v-sim master br0 up
  ip -n "$NS" link set lo up
  ip -n "$NS" addr add "$SIM_IP/${LABNET#*/}" dev eth0
  ip -n "$NS" link set eth0 up
  node_addrs "$1" | ip -n "$NS" -batch -
  ip -n "$NS" route add local "$POD_NET" dev lo
  ip -n "$P-operator" route replace "$NODE_NET" via "$SIM_IP"
  local n
  for n in "${NODES[@]}"; do
    ip -n "$P-$n" route replace "$NODE_NET" via "$SIM_IP"
    ip -n "$P-$n" route replace "$POD_NET" via "$SIM_IP"
  done
}

net_down() {
  ip -n "$P-operator" route del "$NODE_NET" 2>/dev/null || true
  local n
  for n in "${NODES[@]}"; do
    ip -n "$P-$n" route del "$NODE_NET" 2>/dev/null || true
    ip -n "$P-$n" route del "$POD_NET" 2>/dev/null || true
  done
  if [ -e "/run/netns/$NS" ]; then ip netns del "$NS"; fi
}

# start runs the simulation in its namespace, in the lab's daemons cgroup
# (so lab/lab.sh down stops it too), recording its pid.
start() {
  [ -d "$TRACK/daemons" ] || die "no lab cgroup $TRACK/daemons (is the lab up?)"
  mkdir -p "$LAB/logs" "$LAB/pids" "$STATE"
  (
    echo "$BASHPID" > "$TRACK/daemons/cgroup.procs"
    exec nsenter --net="/run/netns/$NS" setsid "$LAB/bin/svccheck-sim" serve -kubeconfig "$LAB/admin.kubeconfig" \
      -node-net "$NODE_NET" -pod-net "$POD_NET" -operator "$OPERATOR" -faults "$STATE/faults.json" -ready "$STATE/status.json" "$@" \
      > "$LAB/logs/sim.log" 2>&1 < /dev/null
  ) &
  echo $! > "$PIDFILE"
}

# answers IP PORT: from the operator, an HTTP GET to IP:PORT is answered.
answers() {
  # shellcheck disable=SC2016 # expanded by the operator's shell
  nsenter --net="/run/netns/$P-operator" timeout 3 bash -c \
    'exec 3<>"/dev/tcp/$1/$2" && printf "GET / HTTP/1.0\r\n\r\n" >&3 && grep -q "^sim-" <&3' _ "$1" "$2"
}

wait_ready() {
  local end=$((SECONDS + 900)) started=$((SECONDS + 5))
  until [ -s "$STATE/status.json" ]; do
    if ! sim_pid >/dev/null && [ $SECONDS -gt $started ]; then
      die "the simulation stopped: $(tail -n 5 "$LAB/logs/sim.log" 2>&1)"
    fi
    [ $SECONDS -lt $end ] || die "the simulation is not ready after 15 minutes (log: $LAB/logs/sim.log)"
    sleep 1
  done
  # The real nodes' kube-proxy forwards the simulated Services too.
  local port n ip
  port=$(kc get service -n sim sim-00000 -o jsonpath='{.spec.ports[0].nodePort}')
  for n in "${NODES[@]}"; do
    ip=$(kc get node "$n" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
    end=$((SECONDS + 120))
    until answers "$ip" "$port"; do
      [ $SECONDS -lt $end ] || die "node $n does not forward NodePort $port to simulated pods"
      sleep 1
    done
  done
}

up() {
  local n=${1:?usage: sim.sh up N [flags]}
  shift
  if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 60000 ]; then die "N must be 1..60000"; fi
  [ -e "/run/netns/$P-operator" ] || die "the lab is not up (lab/lab.sh up)"
  ! sim_pid >/dev/null || die "a simulation is already up (lab/lab.sh sim-down first)"
  SECONDS=0
  (cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$LAB/bin/svccheck-sim" ./lab/sim)
  local args=(-nodes "$n" -services 200 -pods 5 -nodeport-every 1)
  while [ $# -gt 0 ]; do
    case $1 in
      --services|--pods|--nodeport-every) args+=("-${1#--}" "${2:?$1 needs a value}"); shift ;;
      --manual-slices) args+=(-manual-slices) ;;
      *) die "unknown flag $1" ;;
    esac
    shift
  done
  net_down
  rm -rf "$STATE"
  net_up "$n"
  start "${args[@]}"
  log "creating $n nodes and their Services (log: $LAB/logs/sim.log)"
  wait_ready
  log "simulation up in ${SECONDS}s: $(tr -d ' \n' < "$STATE/status.json")"
}

fault() {
  local pid
  pid=$(sim_pid) || die "no simulation is up"
  local refuse=() drop=() fw=() broken=() bad=() b
  while [ $# -gt 0 ]; do
    case $1 in
      --clear) ;;
      --refuse-node) refuse+=("\"${2:?}\""); shift ;;
      --drop-node) drop+=("\"${2:?}\""); shift ;;
      --firewall-node) fw+=("\"${2:?}\""); shift ;;
      --broken-service) broken+=("\"${2:?}\""); shift ;;
      --bad-backend)
        IFS=/ read -r -a b <<< "${2:?--bad-backend NODE/SERVICE[/POD]}"
        bad+=("{\"node\":\"${b[0]}\",\"service\":\"${b[1]:?}\",\"pod\":\"${b[2]:-}\"}"); shift ;;
      *) die "unknown flag $1" ;;
    esac
    shift
  done
  printf '{"refuseNodes":%s,"dropNodes":%s,"firewallNodes":%s,"brokenServices":%s,"badBackends":%s}\n' \
    "$(join "${refuse[@]}")" "$(join "${drop[@]}")" "$(join "${fw[@]}")" "$(join "${broken[@]}")" "$(join "${bad[@]}")" > "$STATE/faults.json"
  local before
  before=$(cat "$STATE/status.json")
  kill -HUP "$pid"
  local end=$((SECONDS + 15))
  until [ "$(cat "$STATE/status.json")" != "$before" ]; do
    [ $SECONDS -lt $end ] || die "the simulation did not take the faults (log: $LAB/logs/sim.log)"
    sleep 0.2
  done
  cat "$STATE/status.json"
}

# join prints its arguments as a JSON list of what they already are.
join() { local IFS=,; echo "[$*]"; }

down() {
  local pid
  SECONDS=0
  if pid=$(sim_pid); then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  if [ -x "$LAB/bin/svccheck-sim" ] && [ -e "/run/netns/$P-operator" ]; then
    nsenter --net="/run/netns/$P-operator" timeout 660 "$LAB/bin/svccheck-sim" down -kubeconfig "$LAB/admin.kubeconfig" ||
      log "warning: simulated objects may be left (svccheck-sim down failed)"
  fi
  net_down
  rm -rf "$STATE"
  log "simulation down in ${SECONDS}s"
}

cmd=${1:-}
shift || true
case $cmd in
  up) up "$@" ;;
  fault) fault "$@" ;;
  status) sim_pid >/dev/null && cat "$STATE/status.json" ;;
  down) down ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
