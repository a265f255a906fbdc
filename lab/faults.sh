# shellcheck shell=bash
# Fault injection for the svccheck lab, sourced by lab.sh (which defines log,
# die, start, lab_pid, running, kc, wait_for, $LAB, $P, $CP, $CG). Every fault acts on a
# daemon the lab recorded (its pid file, checked to be a process of the lab's
# cgroup), on the lab's own network namespaces, or on one pod's processes
# found through that pod's cgroup: never on processes looked up by name.
#
#   pid NAME                       print the recorded pid of a running lab daemon (kube-apiserver, etcd, kubelet-NODE, ...)
#   remember NAME                  keep a running daemon's command line, so NAME-start (api-start,
#                                  kubelet-start) can start it again after something else killed it
#   api-pause / api-resume         SIGSTOP / SIGCONT kube-apiserver
#   api-freeze SECONDS             pause kube-apiserver for SECONDS, then resume it (always)
#   api-stop / api-start           stop kube-apiserver / start it again as it ran, wait until ready
#   api-restart                    both
#   cp-restart kube-controller-manager|kube-scheduler   restart one (what api-restart leaves slow to recover)
#   kubelet-stop NODE / kubelet-start NODE
#   node-lose NODE / node-restore NODE   cut / mend NODE's link to the lab network (not the control plane's)
#   agent-kill NAMESPACE/POD [SIGNAL]    signal the "agent run" processes in a pod (default KILL)

# daemon_pid NAME prints the recorded pid of a running lab daemon.
daemon_pid() {
  local f=$LAB/pids/$1.pid pid
  pid=$(cat "$f" 2>/dev/null) || pid=
  lab_pid "$pid" || die "no $1 running (no live lab pid in $f)"
  echo "$pid"
}

# remember NAME keeps the command line of a running daemon for start_daemon.
remember() { cp "/proc/$(daemon_pid "$1")/cmdline" "$LAB/pids/$1.cmdline"; }

# stop_daemon NAME stops a recorded daemon (TERM, KILL after 3 s: kube-apiserver
# drains its requests for longer than a run lasts) and keeps
# its command line, so start_daemon can start it again as it ran.
stop_daemon() {
  local pid i
  pid=$(daemon_pid "$1")
  remember "$1"
  kill -CONT "$pid" 2>/dev/null || true # a paused daemon cannot exit
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do
    running "$pid" || break
    [ "$i" -ne 30 ] || kill -KILL "$pid" 2>/dev/null || true
    sleep 0.1
  done
  rm -f "$LAB/pids/$1.pid"
  log "$1 stopped"
}

# start_daemon NAME NETNS starts a daemon stop_daemon stopped, with the same
# command line, in NETNS.
start_daemon() {
  local f=$LAB/pids/$1.cmdline argv=()
  if [ -f "$LAB/pids/$1.pid" ] && lab_pid "$(cat "$LAB/pids/$1.pid")"; then
    log "$1 already running"
    return
  fi
  [ -f "$f" ] || die "$1 was not stopped by lab.sh (no $f)"
  mapfile -d '' argv < "$f"
  [ ${#argv[@]} -gt 0 ] || die "$f is empty"
  start "$1" "$2" "${argv[@]}"
  rm -f "$f"
  log "$1 started"
}

api_ready() { in_ns operator "$LAB/bin/kubectl" --kubeconfig "$LAB/admin.kubeconfig" --request-timeout=2s get --raw /readyz; }

fault_node() { # NODE: a node of the lab's
  local n
  for n in "${NODES[@]}"; do [ "$n" = "$1" ] && return 0; done
  die "no node $1 (nodes: ${NODES[*]})"
}

# fault CMD ARGS... runs one fault command.
fault() {
  local cmd=$1 pid
  shift
  case $cmd in
    pid) daemon_pid "${1:?usage: pid NAME}" ;;
    remember) remember "${1:?usage: remember NAME}" ;;
    api-pause) kill -STOP "$(daemon_pid kube-apiserver)"; log "kube-apiserver paused" ;;
    api-resume) kill -CONT "$(daemon_pid kube-apiserver)"; log "kube-apiserver resumed" ;;
    api-freeze)
      local s=${1:?usage: api-freeze SECONDS}
      [[ $s =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "api-freeze: seconds, not $s"
      pid=$(daemon_pid kube-apiserver)
      # shellcheck disable=SC2064 # resume this very pid, whatever ends the script
      trap "kill -CONT $pid 2>/dev/null || true" EXIT INT TERM
      kill -STOP "$pid"
      log "kube-apiserver paused for ${s}s"
      sleep "$s"
      kill -CONT "$pid"
      trap - EXIT INT TERM
      log "kube-apiserver resumed" ;;
    api-stop) stop_daemon kube-apiserver ;;
    api-start)
      start_daemon kube-apiserver "$CP"
      wait_for "kube-apiserver /readyz" 60 api_ready ;;
    api-restart)
      stop_daemon kube-apiserver
      start_daemon kube-apiserver "$CP"
      wait_for "kube-apiserver /readyz" 60 api_ready ;;
    cp-restart) # after api-restart: the controllers' informers otherwise take up to 90 s to act again
      [[ ${1:-} =~ ^kube-(controller-manager|scheduler)$ ]] || die "cp-restart: kube-controller-manager or kube-scheduler, not ${1:-nothing}"
      stop_daemon "$1"
      start_daemon "$1" "$CP" ;;
    kubelet-stop) fault_node "${1:?node name}"; stop_daemon "kubelet-$1" ;;
    kubelet-start) fault_node "${1:?node name}"; start_daemon "kubelet-$1" "$1" ;;
    node-lose)
      fault_node "${1:?node name}"
      [ "$1" != "$CP" ] || die "node-lose: $CP hosts the API server; lose a worker"
      ip -n "$P-lab" link set "v-$1" down
      log "node $1 lost: its link to the lab network is down" ;;
    node-restore)
      fault_node "${1:?node name}"
      ip -n "$P-lab" link set "v-$1" up
      log "node $1 restored" ;;
    agent-kill)
      local ref=${1:?usage: agent-kill NAMESPACE/POD [SIGNAL]} sig=${2:-KILL} uid d p n=0
      [[ $ref == */* ]] || die "agent-kill: NAMESPACE/POD, not $ref"
      uid=$(kc get pod -n "${ref%%/*}" "${ref#*/}" -o 'jsonpath={.metadata.uid}')
      [ -n "$uid" ] || die "no pod $ref"
      # kubelet's cgroupfs driver puts a pod's containers below a cgroup
      # named pod<UID>: only those processes are looked at.
      while read -r d; do
        while read -r p; do
          if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q ' agent run'; then
            kill -s "$sig" "$p" && n=$((n + 1))
          fi
        done < "$d/cgroup.procs"
      done < <(find "/sys/fs/cgroup/pids/$CG" -path "*/pod$uid*" -name cgroup.procs -printf '%h\n' 2>/dev/null)
      [ "$n" -gt 0 ] || die "no \"agent run\" process in pod $ref"
      log "sent SIG$sig to $n agent process(es) of $ref" ;;
    *) die "unknown fault $cmd" ;;
  esac
}
