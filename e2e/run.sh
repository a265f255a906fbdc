#!/usr/bin/env bash
# e2e/run.sh LOG GO-TEST-ARGS... runs `go test -tags e2e -count=1 -v
# GO-TEST-ARGS` against the running lab: the whole output goes to LOG, the
# test results and every test's log lines to stdout.
#
# A real cluster on a shared machine has rare timing failures a rerun does
# not repeat. When the run fails with at most E2E_RERUN_MAX (2) failed
# top-level tests and nothing else wrong (a build error, a panic or a timeout
# never reruns), those tests run once more (LOG.rerun): the run passes only if
# they all pass then. An "e2e: FLAKY" line names them when they do, an "e2e:
# FAIL ... failed twice" line when they do not. E2E_RERUN=0 turns the rerun
# off. TestDiagReportsChecked never reruns: it counts what the whole run
# checked, and alone it would skip, which would pass.
set -uo pipefail
log=${1:?usage: e2e/run.sh LOG GO-TEST-ARGS...}
shift
go=${GO:-go}
filter='^(=== RUN|\s*--- |PASS|FAIL|ok|\s+\w+_test\.go:|panic:)'

"$go" test -tags e2e -count=1 -v "$@" ./e2e/ 2>&1 | tee "$log" | grep -E "$filter"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] && exit 0

mapfile -t failed < <(sed -n 's/^--- FAIL: \(Test[A-Za-z0-9_]*\) .*/\1/p' "$log" | sort -u)
if [ "${E2E_RERUN:-1}" = 0 ] || [ "${#failed[@]}" = 0 ] || [ "${#failed[@]}" -gt "${E2E_RERUN_MAX:-2}" ] ||
  printf '%s\n' "${failed[@]}" | grep -qx TestDiagReportsChecked ||
  grep -qE '^(panic:|FAIL\s.*\[build failed\]|\S+\.go:[0-9]+:[0-9]+: )' "$log"; then
  exit "$rc"
fi
# Keep the arguments but run only the failed tests.
args=()
skip=
for a in "$@"; do
  if [ -n "$skip" ]; then skip=; continue; fi
  case $a in
    -run) skip=1 ;;
    -run=*) ;;
    *) args+=("$a") ;;
  esac
done
names=$(
  IFS='|'
  echo "${failed[*]}"
)
echo "e2e: rerunning once what failed: ${failed[*]}"
"$go" test -tags e2e -count=1 -v "${args[@]}" -run "^($names)\$" ./e2e/ 2>&1 | tee "$log.rerun" | grep -E "$filter"
rc=${PIPESTATUS[0]}
if [ "$rc" = 0 ]; then
  echo "e2e: FLAKY: ${failed[*]} failed, then passed on a rerun (first run in $log)"
else
  echo "e2e: FAIL: ${failed[*]} failed twice"
fi
exit "$rc"
