#!/usr/bin/env bash
# Builds the lab's optional add-ons from their Go modules at a pinned version,
# caching the binaries by version (like lab/build-k8s.sh):
#   kube-network-policies  the NetworkPolicy engine (nftables + nfqueue), run
#                          as a host process per node; patched to read
#                          $KUBECONFIG instead of a pod's service account
#   metallb                MetalLB's controller and speaker (L2 mode)
#
#   usage: lab/addons/build.sh kube-network-policies|metallb   (prints the bin dir on stdout)
set -euo pipefail
name=${1:?usage: build.sh kube-network-policies|metallb}
case $name in
  kube-network-policies) mod=sigs.k8s.io/kube-network-policies ver=${KNP_VERSION:-v0.8.0} bins=(kube-network-policies) ;;
  metallb) mod=go.universe.tf/metallb ver=${METALLB_VERSION:-v0.16.2} bins=(controller speaker metallb-native.yaml) ;;
  *) echo "build.sh: unknown add-on $name" >&2; exit 2 ;;
esac
cache=${SVCCHECK_LAB_CACHE:-$HOME/.cache/svccheck-lab}
out=$cache/$name/$ver/bin
missing=0
for b in "${bins[@]}"; do [ -s "$out/$b" ] || missing=1; done
if [ $missing = 0 ]; then echo "$out"; exit 0; fi

log() { printf '[build-%s] %s\n' "$name" "$*" >&2; }
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 GOTOOLCHAIN=local
log "downloading $mod@$ver"
dir=$(cd /tmp && go mod download -json "$mod@$ver" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { log "module download failed"; exit 1; }
src=$cache/$name/$ver/src
rm -rf "$src"; mkdir -p "$src" "$out"
cp -r "$dir"/. "$src"/; chmod -R u+w "$src"
cd "$src"
rm -rf go.work go.work.sum vendor
case $name in
  kube-network-policies)
    # The DaemonSet's binary reads its pod's service account only; a host
    # process gets a kubeconfig ($KUBECONFIG; in-cluster config when unset).
    sed -i -e 's|"k8s.io/client-go/rest"|"k8s.io/client-go/tools/clientcmd"|' \
      -e 's|config, err := rest.InClusterConfig()|config, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))|' cmd/main.go
    grep -q 'clientcmd.BuildConfigFromFlags' cmd/main.go || { log "cmd/main.go no longer reads rest.InClusterConfig"; exit 1; }
    # Its rules hand packets to userspace with nftables' queue expression,
    # whose kernel module (nft_queue) this kernel lacks and cannot load;
    # xtables' NFQUEUE target (xt_NFQUEUE, through nft_compat) is there and
    # does the same: the rules use it instead, in the same table and chains.
    cat > pkg/networkpolicy/xtqueue.go <<'GO'
package networkpolicy

import (
	"encoding/binary"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

// xtQueue is the queue verdict as the xtables NFQUEUE target, revision 3:
// struct xt_NFQ_info_v3 {u16 queuenum, queues_total, flags}, padded to 8.
func xtQueue(num uint16, bypass bool) expr.Any {
	info := make([]byte, 8)
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1)
	if bypass {
		binary.NativeEndian.PutUint16(info[4:], 1) // NFQ_FLAG_BYPASS
	}
	u := xt.Unknown(info)
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &u}
}
GO
    perl -0pi -e 's/queue := &expr\.Queue\{Num: uint16\(c\.config\.QueueID\)\}\n\tif c\.config\.FailOpen \{\n\t\tqueue\.Flag = expr\.QueueFlagBypass\n\t\}/queue := xtQueue(uint16(c.config.QueueID), c.config.FailOpen)/g' pkg/networkpolicy/controller.go
    if grep -q 'expr.Queue{' pkg/networkpolicy/controller.go; then log "controller.go: queue expressions left"; exit 1; fi
    log "building kube-network-policies $ver (first time only)"
    go build -trimpath -ldflags "-s -w" -o "$out/kube-network-policies.tmp" ./cmd
    mv "$out/kube-network-policies.tmp" "$out/kube-network-policies"
    ;;
  metallb)
    # The Go module proxy refuses github.com/metallb/frr-k8s v0.0.27 (403,
    # "not available"); v0.0.26 has the same API for what MetalLB uses.
    # v0.0.26 has the API MetalLB uses except AS-path prepending, a BGP
    # feature of frr-k8s mode the lab's L2 mode never reaches: it goes.
    go mod edit -replace "github.com/metallb/frr-k8s=github.com/metallb/frr-k8s@${FRRK8S_VERSION:-v0.0.26}"
    f=internal/bgp/frrk8s/frrk8s.go
    sed -i -e '/PrefixesWithAsPathPrepend: make(/d' \
      -e 's|neighbor.ToAdvertise.PrefixesWithAsPathPrepend = toAdvertiseWithAsPathPrepend(prefixesForAsPathPrepend)|_ = prefixesForAsPathPrepend|' \
      -e '/^func toAdvertiseWithAsPathPrepend/,/^}/d' "$f"
    if grep -q AsPathPrependPrefixes "$f"; then log "$f: AS-path prepend code not removed"; exit 1; fi
    # Both read $KUBECONFIG already (controller-runtime's GetConfig).
    for b in controller speaker; do
      log "building metallb $b $ver (first time only)"
      go build -trimpath -ldflags "-s -w -X go.universe.tf/metallb/internal/version.version=$ver" -o "$out/$b.tmp" "./$b"
      mv "$out/$b.tmp" "$out/$b"
    done
    # Its manifest: CRDs, RBAC and the rest (lab/addons/metallb.sh keeps
    # what host processes need).
    cp config/manifests/metallb-native.yaml "$out/metallb-native.yaml"
    ;;
esac
rm -rf "$src"
echo "$out"
