#!/usr/bin/env bash
# Builds one of the lab's optional dataplane components from its Go module at a
# pinned version, with only what the lab uses compiled in, and caches the
# binary by version (like lab/build-k8s.sh):
#   coredns  cluster DNS: kubernetes, errors, health, ready, cache, loadbalance,
#            rewrite and log plugins (no forward: the lab has no upstream)
#   flannel  flanneld with the VXLAN backend only (no cgo)
#
#   usage: lab/build-dataplane.sh coredns|flannel   (prints the binary's path on stdout)
set -euo pipefail
name=${1:?usage: build-dataplane.sh coredns|flannel}
case $name in
  coredns) mod=github.com/coredns/coredns ver=${COREDNS_VERSION:-v1.15.0} ;;
  flannel) mod=github.com/flannel-io/flannel ver=${FLANNEL_VERSION:-v0.28.10} ;;
  *) echo "build-dataplane.sh: unknown component $name" >&2; exit 2 ;;
esac
cache=${SVCCHECK_LAB_CACHE:-$HOME/.cache/svccheck-lab}
out=$cache/$name/$ver/bin/$name
if [ -x "$out" ]; then echo "$out"; exit 0; fi

log() { printf '[build-%s] %s\n' "$name" "$*" >&2; }
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
log "downloading $mod@$ver"
dir=$(cd /tmp && go mod download -json "$mod@$ver" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { log "module download failed"; exit 1; }
src=$cache/$name/$ver/src
rm -rf "$src"; mkdir -p "$src"
cp -r "$dir"/. "$src"/; chmod -R u+w "$src"
cd "$src"
rm -rf go.work go.work.sum vendor
case $name in
  coredns)
    # The module's main links every plugin of plugin.cfg through
    # core/plugin/zplugin.go; the lab's Corefile uses only these. (The
    # directive order lives in core/dnsserver/zdirectives.go and is kept.)
    {
      echo '// Written by lab/build-dataplane.sh: the plugins the lab uses.'
      echo
      echo 'package plugin'
      echo
      echo 'import ('
      for p in cache errors health kubernetes loadbalance log ready rewrite; do
        echo "	_ \"github.com/coredns/coredns/plugin/$p\""
      done
      echo ')'
    } > core/plugin/zplugin.go
    ld="-s -w -X github.com/coredns/coredns/coremain.GitCommit=$ver"
    ;;
  flannel)
    # Only the VXLAN backend: the udp backend needs cgo, the cloud ones
    # pull in their SDKs.
    sed -i -E '/^\s*_ "github.com\/flannel-io\/flannel\/pkg\/backend\/(extension|hostgw|ipip|ipsec|tencentvpc|udp|wireguard)"$/d' main.go
    grep -q 'pkg/backend/vxlan"' main.go || { log "main.go no longer imports the vxlan backend"; exit 1; }
    ld="-s -w -X github.com/flannel-io/flannel/pkg/version.Version=$ver"
    ;;
esac
mkdir -p "${out%/*}"
log "building $name $ver (first time only)"
go build -trimpath -ldflags "$ld" -o "$out.tmp" .
mv "$out.tmp" "$out"
rm -rf "$src"
echo "$out"
