# svccheck: build, test, lab.
SHELL := /bin/bash
GO ?= go
BIN := bin/kubectl-svccheck
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/svccheck/svccheck/plugin.Version=$(VERSION)
# E2E=auto runs the e2e suite when root on Linux; yes: always; no: never.
E2E ?= auto

.PHONY: build image image-push test unit lint e2e e2e-matrix bench bench-e2e bench-scale e2e-scale fault soak release-check release-check-all lab-up lab-down demo clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kubectl-svccheck

## image: the agent image without a container engine: the static binary for
## each of IMAGE_PLATFORMS as an OCI layout (IMAGE_DIR/oci, one multi-arch
## index) and a docker-archive per platform (IMAGE_DIR/svccheck-OS-ARCH.tar)
## for ctr/kind/minikube/k3s. IMAGE defaults to the name this version's plugin
## uses (--image); the lab builds it as svccheck.local/svccheck:lab.
IMAGE ?= ghcr.io/svccheck/svccheck:$(patsubst v%,%,$(VERSION))
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
IMAGE_DIR ?= dist/image
image:
	@set -e; bins=; for p in $(IMAGE_PLATFORMS); do \
		os=$${p%%/*}; arch=$${p#*/}; out=$(IMAGE_DIR)/$$os-$${arch//\//-}/kubectl-svccheck; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$${arch%%/*} $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./cmd/kubectl-svccheck; \
		bins="$$bins -binary $$p=$$out"; \
	done; \
	$(GO) run ./cmd/svccheck-image build -tag '$(IMAGE)' -o $(IMAGE_DIR) $$bins

## image-push: push what `make image` built as IMAGE (INSECURE=1: plain-HTTP registry)
image-push:
	$(GO) run ./cmd/svccheck-image push $(if $(INSECURE),-insecure) -layout $(IMAGE_DIR)/oci '$(IMAGE)'

## test: lint, unit tests with -race, then the end-to-end suite on the lab cluster
test: lint unit
	@if [ "$(E2E)" = yes ] || { [ "$(E2E)" = auto ] && [ "$$(id -u)" = 0 ] && [ "$$(uname -s)" = Linux ]; }; then \
		$(MAKE) --no-print-directory e2e; \
	else echo "e2e: skipped (needs root on Linux; E2E=$(E2E))"; fi

## lint: go vet (the e2e suite too), gofmt, staticcheck, deadcode (functions no
## program or test reaches), shellcheck. staticcheck and deadcode are pinned in
## tools.mod, apart from go.mod so that their dependencies do not move the
## binary's; `go tool` builds them from the module proxy on first use
GOTOOL := $(GO) tool -modfile=tools.mod
lint:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GOTOOL) staticcheck -tags e2e ./...
	@echo '$(GOTOOL) deadcode -test -tags e2e ./...'; out=$$($(GOTOOL) deadcode -test -tags e2e ./...) || exit 1; \
		if [ -n "$$out" ]; then echo "$$out"; echo "deadcode: unreachable functions (delete them)"; exit 1; fi
	@command -v shellcheck >/dev/null || { echo "lint: shellcheck not installed (apt-get install shellcheck)"; exit 1; }
	shellcheck lab/*.sh lab/addons/*.sh e2e/*.sh .ci/* kubectl_complete-svccheck

unit:
	$(GO) test -race -count=1 ./...

## e2e: start the lab, run the scenarios against it, always tear it down
e2e:
	@trap 'lab/lab.sh down' EXIT; lab/lab.sh up && GO=$(GO) e2e/run.sh e2e.out -timeout 20m

## e2e-matrix: the dataplane scenarios on each other dataplane the lab runs
## (MATRIX: lab.sh up flags as option=value), one lab each, torn down after;
## e2e-OPTION-VALUE.out keeps each run's log
MATRIX ?= proxy=nftables cni=flannel stack=dual
MATRIX_TESTS ?= TestDataplane|TestSeedHealthy|TestFromAllSeed|TestKubeProxyStopped|TestConntrackAttributesSilentTCP|TestExternalTrafficPolicyLocal|TestFirewallFromOperatorOnly|TestSelectorMatchesNoPod|TestTargetPortNotListening
e2e-matrix:
	@trap 'lab/lab.sh down' EXIT; rc=0; for dp in $(MATRIX); do \
		start=$$SECONDS; echo "== e2e on a lab with $$dp"; \
		if lab/lab.sh up --$${dp%%=*} $${dp#*=}; then \
			GO=$(GO) e2e/run.sh e2e-$${dp/=/-}.out -timeout 20m -run '$(MATRIX_TESTS)' || rc=1; \
		else rc=1; fi; \
		echo "== $$dp: $$((SECONDS - start))s"; \
	done; exit $$rc

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3x ./probe/
	$(GO) test -run '^$$' -bench 'RunLoopback|DialLoop' -benchtime 20000x -count 3 ./probe/

## bench-e2e: wall time of `--from all` on the seed, agent pod start included (lab must be up)
bench-e2e:
	lab/lab.sh seed
	$(GO) test -tags e2e -run '^$$' -bench FromAllSeed -benchtime 5x ./e2e/

## bench-scale: the scale benchmarks (root on Linux): the whole --from local
## check of 1,000 nodes x 200 NodePort Services on a loopback dataplane; on the
## lab, the 30-Service firewall case and node agents, then on the scale lab of
## SIM_NODES simulated nodes the healthy and the unreachable check, and on
## SIM_NODES nodes with 10,000 Services discovery and plan (--dry-run -A); each
## simulation is removed on any exit
SIM_NODES ?= 1000
bench-scale:
	$(GO) test -run '^$$' -bench 'ScaleLoopback/(healthy|unreachable)$$' -benchtime 1x ./plugin/
	lab/lab.sh up && lab/lab.sh seed
	$(GO) test -tags e2e -run '^$$' -bench 'Firewall30|NodeAgents' -benchtime 3x -timeout 30m ./e2e/
	@trap 'lab/lab.sh sim-down' EXIT; trap 'exit 130' INT TERM; lab/lab.sh sim $(SIM_NODES) && \
		$(GO) test -tags e2e -run '^$$' -bench 'ScaleHealthy|ScaleUnreachable' -benchtime 3x -timeout 60m ./e2e/
	@trap 'lab/lab.sh sim-down' EXIT; trap 'exit 130' INT TERM; lab/lab.sh sim $(SIM_NODES) --services 10000 --nodeport-every 50 --manual-slices && \
		$(GO) test -tags e2e -run '^$$' -bench 'DiscoveryPlan' -benchtime 3x -timeout 60m ./e2e/

## e2e-scale: the scale lab's end-to-end tests on the running lab (root): the
## 30-Service firewall case on the real nodes, then SIM_E2E_NODES simulated
## nodes brought up for TestScaleHealthy and TestScaleFaults (every injected
## fault found on the right node, nothing else flagged), removed on any exit;
## FIREWALL30=no skips the firewall case
SIM_E2E_NODES ?= 200
FIREWALL30 ?= yes
e2e-scale:
	[ "$(FIREWALL30)" != yes ] || $(GO) test -tags e2e -count=1 -timeout 10m -v -run '^TestFirewall30$$' ./e2e/ -args -scale
	@trap 'lab/lab.sh sim-down' EXIT; trap 'exit 130' INT TERM; lab/lab.sh sim $(SIM_E2E_NODES) && \
		$(GO) test -tags e2e -count=1 -timeout 30m -v -run '^TestScale(Healthy|Faults)$$' ./e2e/

## fault: the fault-injection suite on the lab (lab must be up; 9 min 41 s on 2 cores): the
## API server paused and restarted, etcd paused, the agent's pod deleted and its process killed,
## its node's kubelet, kube-proxy and network lost, a node agent's node lost, svccheck itself
## stopped, at every phase of a run where the fault means something
fault:
	FAULTS=1 GO=$(GO) e2e/run.sh fault.out -timeout 60m -run '^TestFault'

## soak: SOAK_RUNS back-to-back agent runs on the seed, faults at random moments (lab must be up;
## 60 runs took 4 minutes on 2 cores); hangs, leftovers and wrong exit codes must be zero
## (SOAK_SEED=N repeats a draw)
SOAK_RUNS ?= 30
soak:
	SOAK_RUNS=$(SOAK_RUNS) SOAK_SEED=$(SOAK_SEED) $(GO) test -tags e2e -count=1 -timeout 120m -v -run '^TestSoak$$' ./e2e/

## release-check: goreleaser check + snapshot build/archives, krew manifest validated and installed offline
release-check:
	.ci/release-check

## release-check-all: the same for all six platforms, as a release builds them
release-check-all:
	RELEASE_PLATFORMS=all .ci/release-check

lab-up:
	lab/lab.sh up

lab-down:
	lab/lab.sh down

## demo: the seed walkthrough on the lab cluster, probed from the operator host
demo:
	lab/lab.sh up
	lab/lab.sh seed
	lab/lab.sh exec -- kubectl svccheck -n default --from local --http

clean:
	rm -rf bin dist e2e.out
