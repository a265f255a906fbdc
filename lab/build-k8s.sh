#!/usr/bin/env bash
# Builds the Kubernetes components the lab runs from the k8s.io/kubernetes Go module
# at a pinned version, caching the binaries by version.
#   usage: lab/build-k8s.sh [VERSION]   (prints the bin dir on stdout)
set -euo pipefail
ver=${1:-${K8S_VERSION:-v1.34.4}}
cache=${SVCCHECK_LAB_CACHE:-$HOME/.cache/svccheck-lab}
out=$cache/k8s/$ver/bin
comps=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
missing=()
for c in "${comps[@]}"; do [ -x "$out/$c" ] || missing+=("$c"); done
if [ ${#missing[@]} = 0 ]; then echo "$out"; exit 0; fi

log() { printf '[build-k8s] %s\n' "$*" >&2; }
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
log "downloading k8s.io/kubernetes@$ver"
dir=$(cd /tmp && go mod download -json "k8s.io/kubernetes@$ver" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { log "module download failed"; exit 1; }
src=$cache/k8s/$ver/src
rm -rf "$src"; mkdir -p "$src"
cp -r "$dir"/. "$src"/; chmod -R u+w "$src"
cd "$src"
rm -rf go.work go.work.sum vendor
stage=${ver/v1./v0.}
# Drop the replace block pointing at ./staging and pin staging modules to the matching release.
awk '/^replace \($/{skip=1;next} skip&&/^\)$/{skip=0;next} !skip' go.mod |
  sed -E "s#^(\s*k8s\.io/[a-z0-9-]+) v0\.0\.0(\s|$)#\1 $stage\2#" > go.mod.new
mv go.mod.new go.mod
grep -q 'v0.0.0$' go.mod && { log "unpinned v0.0.0 requirement left in go.mod"; grep 'v0.0.0$' go.mod >&2; exit 1; }
mkdir -p "$out"
ld="-s -w -X k8s.io/component-base/version.gitVersion=$ver -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$ver" | cut -d. -f2)"
for c in "${missing[@]}"; do
  log "building $c (first time only: several minutes on 2 cores)"
  go build -trimpath -ldflags "$ld" -o "$out/$c.tmp" "./cmd/$c"
  mv "$out/$c.tmp" "$out/$c"
done
rm -rf "$src"
echo "$out"
