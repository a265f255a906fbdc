//go:build e2e

// Fault injection: the cluster misbehaves while svccheck runs (the API server
// paused or restarted, the agent's pod deleted, its process killed, its
// node's kubelet or kube-proxy stopped, its node lost), at every phase of a
// run. Each case asserts that the run ends within its bound, says which
// probes could not run and why (never ok), exits with the documented code,
// and that right after it exits nothing of the run is left in the cluster.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/svccheck/svccheck/report"
)

// phase is a point of a run, recognised on svccheck's stderr with -v 6 (one
// line per API response): the fault is injected when the line that ends the
// previous phase appears, so it lands in this one.
type phase struct {
	name  string
	match *regexp.Regexp
}

var (
	// the first of the RBAC preflight's access reviews answered; the others are in flight
	atPreflight = phase{"preflight", regexp.MustCompile(`selfsubjectaccessreviews.*(201|200)`)}
	// the Services listed; EndpointSlices, Nodes and Pods to go
	atDiscovery = phase{"discovery", regexp.MustCompile(`/services\?.*limit=`)}
	// the kube-dns look-up answered: the next request creates the agent Job
	atCreate = phase{"job creation", regexp.MustCompile(`/kube-system/services/kube-dns`)}
	// the Job created: waiting for its pod
	atWait = phase{"waiting for the pod", regexp.MustCompile(`"POST" url="[^"]*/jobs[?"][^"]*" status="201`)}
	// the pod watched and running: the exec stream opens next
	atStream = phase{"streaming", regexp.MustCompile(`/pods/[^/?"]+/exec`)}
	// the run's cleanup deletes its first Job
	atCleanup = phase{"cleanup", regexp.MustCompile(`"DELETE" url="[^"]*/jobs/`)}
	runIDLine = regexp.MustCompile(`"svccheck run" run="([0-9a-f]{10})"`)
)

// faultOutcome is one faulted run, measured.
type faultOutcome struct {
	r        *report.Report
	code     int
	stderr   string
	took     time.Duration
	run      string
	left     []string // objects of the run right after it exited
	injected bool
	hung     bool
}

// runFaulted runs svccheck (-o json -v 6) as the operator, calls inject in
// its own goroutine when at's line appears on stderr (at once when at is
// nil), kills the run if it outlives hang, and lists the run's objects the
// moment it exits.
func runFaulted(t *testing.T, at *phase, inject func(), hang time.Duration, args ...string) faultOutcome {
	t.Helper()
	cmd := exec.Command(labSh, append([]string{"exec", "--", "kubectl-svccheck", "-o", "json", "-v", "6"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = &out, pw
	var o faultOutcome
	var errBuf strings.Builder
	var injecting sync.WaitGroup
	scanned := make(chan struct{})
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	runningGroup.Store(int64(cmd.Process.Pid))
	fire := func() {
		if o.injected {
			return
		}
		o.injected = true
		injecting.Add(1)
		go func() {
			defer injecting.Done()
			inject()
		}()
	}
	if at == nil && inject != nil {
		fire()
	}
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			errBuf.WriteString(line + "\n")
			if m := runIDLine.FindStringSubmatch(line); m != nil && o.run == "" {
				o.run = m[1]
			}
			if at != nil && inject != nil && at.match.MatchString(line) {
				fire()
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(hang):
		o.hung = true
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
	}
	o.took = time.Since(start)
	_ = pw.Close()
	<-scanned
	if o.run != "" {
		o.left = runObjects(t, o.run)
	}
	injecting.Wait()
	o.stderr = errBuf.String()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		o.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if out.Len() > 0 {
		var r report.Report
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Errorf("report is not JSON: %v\n%s", err, out.String())
		} else {
			o.r = &r
		}
	}
	t.Logf("%s: exit %d in %s, fault injected %v, run %s, left %v", strings.Join(args, " "), o.code, o.took.Round(100*time.Millisecond), o.injected, o.run, o.left)
	for _, l := range jobTrace(o.stderr) {
		t.Logf("  %s", l)
	}
	if o.r != nil {
		t.Logf("  %s", report.SummaryLine(o.r))
		for _, s := range o.r.Services {
			for _, p := range s.Probes {
				if p.Outcome == "notRun" && p.Via != "dns" || !p.Pass {
					t.Logf("  %s: %s %s", p.ID, p.Outcome, p.Detail)
				}
			}
		}
	}
	return o
}

// jobTrace is what the run asked of the agent's Jobs and how long each
// answer took, and its stderr lines other than request logs.
func jobTrace(stderr string) []string {
	call := regexp.MustCompile(`"Response" verb="(\w+)" url="[^"]*/(jobs[^"?]*)[^"]*" status="([^"]*)" milliseconds=(\d+)`)
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if m := call.FindStringSubmatch(l); m != nil {
			out = append(out, fmt.Sprintf("%s %s: %s in %sms", m[1], m[2], m[3], m[4]))
		}
	}
	return append(out, errLines(stderr)...)
}

// runningGroup is the process group of the run runFaulted started last.
var runningGroup atomic.Int64

// signalSvccheck sends sig to kubectl-svccheck itself (not lab.sh, which
// waits for it), found in the running group through /proc.
func signalSvccheck(t *testing.T, sig syscall.Signal) {
	pgid := int(runningGroup.Load())
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if g, err := syscall.Getpgid(pid); err == nil && g == pgid && strings.HasPrefix(string(comm), "kubectl-svcche") {
			if err := syscall.Kill(pid, sig); err != nil {
				t.Errorf("signal svccheck: %v", err)
			}
			return
		}
	}
	t.Errorf("no kubectl-svccheck in process group %d", pgid)
}

// runObjects lists the Jobs and pods of run at once (no waiting for them to
// go): the first List the API server answers (it may be down as the run
// ends, for up to 90 s).
func runObjects(t *testing.T, run string) []string {
	t.Helper()
	var err error
	for end := time.Now().Add(90 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		var b []byte
		cmd := exec.Command(labSh, "kubectl", "--request-timeout=5s", "get", "jobs,pods", "-A", "-l", "svccheck.dev/run="+run, "-o", "name")
		if b, err = cmd.Output(); err == nil {
			return strings.Fields(string(b))
		}
	}
	return []string{"(could not list: " + err.Error() + ")"}
}

// errLines are stderr's lines without klog's request logs.
func errLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l != "" && !regexp.MustCompile(`^[IWE]\d{4} `).MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// notRunBecause counts the probes not run and checks each names a reason;
// it fails any probe that claims ok with a not-run detail.
func notRunBecause(t *testing.T, r *report.Report, reasons ...string) int {
	t.Helper()
	n := 0
	for _, s := range r.Services {
		for _, p := range s.Probes {
			if p.Outcome != "notRun" {
				continue
			}
			if p.Via == "dns" && strings.Contains(p.Detail, "no cluster DNS") {
				continue
			}
			n++
			ok := false
			for _, why := range reasons {
				ok = ok || strings.HasPrefix(p.Detail, why)
			}
			if !ok {
				t.Errorf("%s not run because %q, want one of %q", p.ID, p.Detail, reasons)
			}
		}
	}
	cited := map[string]bool{}
	for _, f := range r.Findings {
		for _, id := range f.Probes {
			cited[id] = true
		}
	}
	for _, s := range r.Services {
		for _, p := range s.Probes {
			if p.Outcome == "notRun" && cited[p.ID] {
				t.Errorf("a finding cites %s, which did not run", p.ID)
			}
		}
	}
	return n
}

// labHealthy waits until every node is Ready, the API answers, the seed is
// healthy from outside and an agent runs on lab-w1 as it should, after a
// fault was undone: controllers whose watches backed off while the API
// server was gone can take a minute to act again.
func labHealthy(t *testing.T) {
	t.Helper()
	start, tries := time.Now(), 0
	defer func() {
		t.Logf("lab healthy after %s (%d checks)", time.Since(start).Round(100*time.Millisecond), tries)
	}()
	check := func() error {
		tries++
		if err := exec.Command(labSh, "status").Run(); err != nil {
			return fmt.Errorf("lab status: %v", err)
		}
		r, _, code := svccheck(t, "-n", "default", "--http", "hostname", "hostname-nodeport")
		if err := healthySeed(r, code); err != nil {
			return err
		}
		if r, stderr, code := svccheck(t, "-n", "default", "--from", "cluster", "--node", "lab-w1", "--agent-timeout", "15s", "hostname"); code != 0 || r == nil {
			return fmt.Errorf("agent run: exit %d: %s", code, strings.TrimSpace(stderr))
		}
		return nil
	}
	eventually(t, "lab healthy again", 180*time.Second, func() error {
		err := check()
		if err != nil {
			t.Logf("lab not healthy yet (%s): %v", time.Since(start).Round(100*time.Millisecond), err)
		}
		return err
	})
}

// needFaults skips the fault suite unless FAULTS=1 (make fault): it breaks
// the lab on purpose and takes about 15 minutes.
func needFaults(t *testing.T) {
	if os.Getenv("FAULTS") != "1" {
		t.Skip("fault injection: FAULTS=1 (make fault)")
	}
}

var agentImageOnce sync.Once

// freshAgentImage imports this tree's agent image into every node, so the
// agents run the code under test (lab.sh build, in TestMain, only builds it).
func freshAgentImage(t *testing.T) {
	agentImageOnce.Do(func() { lab(t, "images") })
}

// agentPod waits for a pod of svccheck's agent on the lab and returns it as
// NAMESPACE/NAME; running says whether it must be Running.
func agentPod(t *testing.T, running bool, within time.Duration) string {
	var ref string
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		args := []string{"kubectl", "get", "pods", "-A", "-l", "app.kubernetes.io/name=svccheck", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.status.phase}{\"\\n\"}{end}"}
		b, _ := exec.Command(labSh, args...).Output()
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(l)
			if len(f) == 2 && (!running || f[1] == "Running") {
				ref = f[0]
			}
		}
		if ref != "" {
			return ref
		}
		time.Sleep(200 * time.Millisecond)
	}
	return ""
}

// The runs: the seed from an agent pinned to lab-w1 (fast), and a streaming
// run that lasts: lab-w2 drops NodePort traffic from pods, so the agent's
// probe of it waits out --timeout (its failure does not set the exit code:
// --fail-on never; the exit code is 0, or 4 when the agent stopped short).
var (
	seedArgs   = []string{"-n", "default", "--from", "cluster", "--node", "lab-w1", "--http", "--agent-timeout", "20s", "hostname", "hostname-nodeport"}
	streamArgs = []string{"-n", "default", "--from", "cluster", "--node", "lab-w1", "--http", "--timeout", "8s", "--fail-on", "never", "hostname-nodeport"}
)

// agentReasons are why an agent's probes may not have run.
var agentReasons = []string{"agent pod deleted", "agent node lost", "agent pod ended", "exec stream broken", "exec stream stalled", "agent process stopped in its pod", "agent deadline passed"}

type faultCase struct {
	at     *phase
	args   []string
	inject func(t *testing.T)
	// pause, instead of inject, pauses this lab daemon (SIGSTOP to its
	// recorded pid, read before the run so the signal lands within
	// microseconds of the phase's line) for pauseFor.
	pause    string
	pauseFor time.Duration
	// restart, instead of inject, restarts the API server the same way;
	// kubelet stops lab-w1's kubelet so (and undo starts it again).
	restart, kubelet bool
	undo             func(t *testing.T)
	// bound is how long the run may take; codes the exit codes it may end
	// with (the first is the one expected when the fault landed as aimed).
	bound time.Duration
	codes []int
	// check asserts more on the outcome.
	check func(t *testing.T, o faultOutcome)
	// interrupt: the fault is svccheck being told to stop.
	interrupt bool
	// before breaks something before the run starts (inject then does
	// nothing): a fault that takes longer to take effect than a run.
	before func(t *testing.T)
}

func (fc faultCase) run(t *testing.T) {
	needFaults(t)
	freshAgentImage(t)
	defer func() {
		if fc.undo != nil {
			fc.undo(t)
		}
		labHealthy(t)
	}()
	if fc.pause != "" {
		fc.inject = pauser(t, fc.pause, fc.pauseFor)
	}
	if fc.restart {
		fc.inject = restarter(t, "kube-apiserver", "api-start")
		fc.undo = recoverFromAPIRestart
	}
	if fc.before != nil {
		fc.before(t)
		fc.inject = func(*testing.T) {}
	}
	if fc.kubelet {
		fc.inject = stopper(t, "kubelet-lab-w1", "kubelet-start", "lab-w1")
		fc.undo = faultLab(t, "kubelet-start", "lab-w1")
	}
	o := runFaulted(t, fc.at, func() { fc.inject(t) }, fc.bound+30*time.Second, fc.args...)
	switch {
	case o.hung:
		t.Fatalf("HANG: still running after %s (bound %s)", fc.bound+30*time.Second, fc.bound)
	case !o.injected:
		t.Fatalf("the fault was never injected: phase %q not seen on stderr:\n%s", fc.at.name, o.stderr)
	case o.took > fc.bound:
		t.Errorf("took %s, bound %s", o.took.Round(100*time.Millisecond), fc.bound)
	}
	if !slices.Contains(fc.codes, o.code) {
		t.Errorf("exit %d, want one of %v; stderr:\n%s", o.code, fc.codes, strings.Join(errLines(o.stderr), "\n"))
	}
	if o.run == "" {
		t.Errorf("no run id on stderr")
	}
	if len(o.left) > 0 {
		t.Errorf("LEFT right after exit: %v", o.left)
	}
	if o.r != nil {
		if o.r.Interrupted != fc.interrupt {
			t.Errorf("report interrupted %v, want %v", o.r.Interrupted, fc.interrupt)
		}
		reasons := agentReasons
		if fc.interrupt {
			reasons = append(slices.Clone(reasons), "interrupted")
		}
		n := notRunBecause(t, o.r, reasons...)
		if o.code == 4 && n == 0 {
			t.Errorf("exit 4 but no probe is reported not run")
		}
		if o.code == 0 && n > 0 && !fc.interrupt {
			t.Errorf("exit 0 with %d probes not run", n)
		}
	}
	if fc.check != nil {
		fc.check(t, o)
	}
}

// recoverFromAPIRestart restarts, once the run is over, what is slow to
// recover from an API server restart on the lab: the controller manager's
// informers took up to 90 s to create pods again, and lab-w1's kubelet as
// long to start them.
func recoverFromAPIRestart(t *testing.T) {
	labErr(t, "cp-restart", "kube-controller-manager")
	labErr(t, "kubelet-stop", "lab-w1")
	labErr(t, "kubelet-start", "lab-w1")
}

// pauser returns a fault that pauses the lab daemon name for d: SIGSTOP to
// the pid the lab recorded (lab.sh pid checks it is the lab's), SIGCONT after
// d, and at the test's end whatever happens.
func pauser(t *testing.T, name string, d time.Duration) func(t *testing.T) {
	pid, err := strconv.Atoi(strings.TrimSpace(lab(t, "pid", name)))
	if err != nil {
		t.Fatalf("pid of %s: %v", name, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	return func(t *testing.T) {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Errorf("pause %s: %v", name, err)
			return
		}
		defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
		time.Sleep(d)
	}
}

// restarter returns a fault that restarts the lab daemon name (started in
// netns by lab.sh as NAME-start, e.g. api-start): SIGTERM to its recorded pid
// the moment it is called (its command line kept beforehand), then, once it
// has exited, lab.sh starts it again as it ran and waits until it is ready.
func restarter(t *testing.T, name, startCmd string, args ...string) func(t *testing.T) {
	stop := stopper(t, name, startCmd, args...)
	return func(t *testing.T) {
		stop(t)
		start := time.Now()
		labErr(t, append([]string{startCmd}, args...)...)
		t.Logf("%s started again and ready in %s", name, time.Since(start).Round(100*time.Millisecond))
	}
}

// stopper returns a fault that stops the lab daemon name the moment it is
// called (SIGTERM to its recorded pid, SIGKILL after 3 s: kube-apiserver
// drains its requests for longer than a run lasts) and returns once
// it has exited; lab.sh startCmd ARGS starts it again when the test ends.
func stopper(t *testing.T, name, startCmd string, args ...string) func(t *testing.T) {
	pid, err := strconv.Atoi(strings.TrimSpace(lab(t, "pid", name)))
	if err != nil {
		t.Fatalf("pid of %s: %v", name, err)
	}
	lab(t, "remember", name)
	t.Cleanup(func() { _, _ = runLab(append([]string{startCmd}, args...)...) })
	return func(t *testing.T) {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
		start := time.Now()
		for i := 0; i < 30 && alive(pid); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Logf("%s (pid %d) stopped in %s", name, pid, time.Since(start).Round(100*time.Millisecond))
	}
}

// alive says whether pid has not exited: a lab daemon is reparented to the
// machine's init, which may reap it seconds after it exits; until then it
// is a zombie that signal 0 still finds.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b[bytes.LastIndexByte(b, ')')+1:]), " ")
	return !strings.HasPrefix(rest, "Z")
}

// faultLab is a lab.sh command run as a fault: from the goroutine that
// injects it, so a failure is reported, not fatal.
func faultLab(_ *testing.T, args ...string) func(t *testing.T) {
	return func(t *testing.T) { labErr(t, args...) }
}

func labErr(t *testing.T, args ...string) string {
	out, err := runLab(args...)
	if err != nil {
		t.Errorf("lab.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// withFirewall runs the streaming cases with lab-w2 dropping NodePort
// traffic from pods.
func withFirewall(t *testing.T, fc faultCase) {
	undo := podFirewall(t)
	defer undo()
	fc.run(t)
}

// TestFaultAPIFreeze: kube-apiserver paused (SIGSTOP) for 20 s at each phase.
// Every call rides it out (client timeout 15 s, retried up to 30 s), the
// stream waits while the API does not answer: the run passes, 20 s late.
// The wait for the agent's pod is bounded by --agent-timeout, frozen API
// or not: these runs give it two minutes, longer than the freeze.
func TestFaultAPIFreeze(t *testing.T) {
	args := append(slices.Clone(seedArgs), "--agent-timeout", "120s")
	for _, at := range []*phase{&atPreflight, &atDiscovery, &atCreate, &atWait} {
		t.Run(at.name, func(t *testing.T) {
			faultCase{at: at, args: args, pause: "kube-apiserver", pauseFor: 20 * time.Second, bound: 60 * time.Second, codes: []int{0}}.run(t)
		})
	}
	t.Run(atStream.name, func(t *testing.T) {
		withFirewall(t, faultCase{at: &atStream, args: streamArgs, pause: "kube-apiserver", pauseFor: 20 * time.Second, bound: 60 * time.Second, codes: []int{0}})
	})
	// A 10 s pause during the cleanup is ridden out (20 s budget).
	t.Run("cleanup 10s", func(t *testing.T) {
		faultCase{at: &atCleanup, args: seedArgs, pause: "kube-apiserver", pauseFor: 10 * time.Second, bound: 35 * time.Second, codes: []int{0}}.run(t)
	})
}

// TestFaultEtcdPauseLosesCreateResponse: etcd paused for 20 s as the Job
// create goes out: the API server takes the create, cannot store it, the
// client's timeout loses the answer, and the Job is stored when etcd
// resumes. The agent adopts it (or a second Job exists, both removed): the
// run passes and leaves nothing. Also the bug of the -A --from all run.
func TestFaultEtcdPauseLosesCreateResponse(t *testing.T) {
	// (The seed's single agent showed the same as -A --from all's; only
	// the latter runs, to keep the suite short.)
	for _, args := range [][]string{{"-A", "--from", "all", "--http", "--agent-timeout", "20s", "--fail-on", "never"}} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			faultCase{at: &atCreate, args: args, pause: "etcd", pauseFor: 20 * time.Second, bound: 60 * time.Second, codes: []int{0},
				check: func(t *testing.T, o faultOutcome) {
					for _, l := range strings.Split(o.stderr, "\n") {
						if strings.Contains(l, `"POST"`) && strings.Contains(l, "/jobs") {
							t.Logf("job create: %s", l[strings.Index(l, "]")+1:])
						}
					}
				}}.run(t)
		})
	}
	t.Run("API server, -A --from all", func(t *testing.T) {
		faultCase{at: &atCreate, args: []string{"-A", "--from", "all", "--http", "--agent-timeout", "20s", "--fail-on", "never"}, pause: "kube-apiserver", pauseFor: 20 * time.Second,
			bound: 60 * time.Second, codes: []int{0}}.run(t)
	})
}

// TestFaultAPIFreezeOutlastsCleanup: paused for 40 s from the cleanup's
// first delete, longer than its 20 s budget: the run keeps its exit code and
// says in one line how to finish; that command works once the API is back.
func TestFaultAPIFreezeOutlastsCleanup(t *testing.T) {
	needFaults(t)
	freshAgentImage(t)
	defer labHealthy(t)
	done := make(chan struct{})
	pause := pauser(t, "kube-apiserver", 40*time.Second)
	o := runFaulted(t, &atCleanup, func() {
		defer close(done)
		pause(t)
	}, 90*time.Second, seedArgs...)
	if o.code != 0 || o.took > 40*time.Second {
		t.Errorf("exit %d after %s, want 0 within the cleanup's budget", o.code, o.took)
	}
	lines := errLines(o.stderr)
	want := fmt.Sprintf("`kubectl svccheck cleanup --run %s -n default`", o.run)
	if len(lines) != 1 || !strings.Contains(lines[0], want) || !strings.Contains(lines[0], "the agent's deadline removes it by") {
		t.Fatalf("stderr lines %q, want one naming %s", lines, want)
	}
	t.Logf("%s", lines[0])
	<-done
	out := lab(t, "exec", "--", "kubectl-svccheck", "cleanup", "--run", o.run, "-n", "default")
	if left := runObjects(t, o.run); len(left) > 0 {
		t.Errorf("after %q: left %v", strings.TrimSpace(out), left)
	}
}

// TestFaultAPIRestart: kube-apiserver stopped and started again (about 5 to
// 10 s without it) at each phase. Calls retry connection refusals; an exec
// stream cannot survive its server: those probes are not run (exit 4).
//
// The controllers' watches back off while the API server is gone, so the
// Job controller may take 20 s or more (up to 100 s seen) to make the
// agent's pod afterwards: these runs give the agent two minutes to start.
func TestFaultAPIRestart(t *testing.T) {
	args := append(slices.Clone(seedArgs), "--agent-timeout", "120s")
	for _, at := range []*phase{&atPreflight, &atDiscovery, &atCreate, &atWait} {
		t.Run(at.name, func(t *testing.T) {
			faultCase{at: at, args: args, restart: true, bound: 150 * time.Second, codes: []int{0}}.run(t)
		})
	}
	// The API server drains in-flight streams when it stops (0: the stream
	// ended first); one it cuts leaves its probes not run (4).
	t.Run(atStream.name, func(t *testing.T) {
		withFirewall(t, faultCase{at: &atStream, args: streamArgs, restart: true, bound: 60 * time.Second, codes: []int{0, 4}})
	})
	t.Run(atCleanup.name, func(t *testing.T) {
		faultCase{at: &atCleanup, args: seedArgs, restart: true, bound: 40 * time.Second, codes: []int{0}}.run(t)
	})
}

// wantReason checks that the agent's unanswered probes say why (one of
// whys).
func wantReason(whys ...string) func(t *testing.T, o faultOutcome) {
	return func(t *testing.T, o faultOutcome) {
		if o.r == nil {
			t.Fatalf("no report")
		}
		n := 0
		for _, s := range o.r.Services {
			for _, p := range s.Probes {
				if p.Outcome == "notRun" && slices.ContainsFunc(whys, func(w string) bool { return strings.HasPrefix(p.Detail, w) }) {
					n++
					t.Logf("%s: not run: %s", p.ID, p.Detail)
				}
			}
		}
		if n == 0 {
			t.Errorf("no probe not run because of %q", whys)
		}
		lines := errLines(o.stderr)
		if len(lines) != 1 || !strings.Contains(lines[0], "agent stopped before every probe ran") {
			t.Errorf("stderr %q, want one line naming the agent", lines)
		}
	}
}

// TestFaultAgentPod: the agent's pod deleted while svccheck waits for it and
// while it streams; its process killed (SIGKILL, SIGTERM) in the pod.
func TestFaultAgentPod(t *testing.T) {
	deletePod := func(running bool) func(t *testing.T) {
		return func(t *testing.T) {
			// The run gives its agent 20 s to start; a pod seen later than
			// that could no longer be deleted in time.
			if ref := agentPod(t, running, 20*time.Second); ref != "" {
				ns, name, _ := strings.Cut(ref, "/")
				labErr(t, "kubectl", "delete", "pod", "-n", ns, name, "--wait=false")
			}
		}
	}
	kill := func(sig string) func(t *testing.T) {
		return func(t *testing.T) {
			ref := agentPod(t, true, 10*time.Second)
			if ref == "" {
				return
			}
			// The agent process starts when svccheck execs it, a moment
			// after the pod runs (longer on a loaded machine): try until it
			// is there, for 5 s.
			for deadline := time.Now().Add(5 * time.Second); ; {
				time.Sleep(300 * time.Millisecond)
				out, err := runLab("agent-kill", ref, sig)
				if err == nil {
					return
				}
				if time.Now().After(deadline) {
					t.Errorf("agent-kill %s %s: %v\n%s", ref, sig, err, out)
					return
				}
			}
		}
	}
	t.Run("deleted while waiting", func(t *testing.T) {
		// Deleted before it ran: the start fails (no report); if it was
		// running already, its probes are not run. Both exit 4.
		faultCase{at: &atWait, args: seedArgs, inject: deletePod(false), bound: 30 * time.Second, codes: []int{4},
			check: func(t *testing.T, o faultOutcome) {
				if o.r == nil && !strings.Contains(o.stderr, "deleted before it ran") {
					t.Errorf("stderr does not say the pod was deleted: %q", errLines(o.stderr))
				}
			}}.run(t)
	})
	t.Run("deleted while streaming", func(t *testing.T) {
		withFirewall(t, faultCase{at: &atStream, args: streamArgs, inject: deletePod(true), bound: 30 * time.Second, codes: []int{4},
			check: wantReason("agent pod deleted")})
	})
	t.Run("SIGKILL while streaming", func(t *testing.T) {
		withFirewall(t, faultCase{at: &atStream, args: streamArgs, inject: kill("KILL"), bound: 30 * time.Second, codes: []int{4},
			check: wantReason("exec stream broken")})
	})
	t.Run("SIGTERM while streaming", func(t *testing.T) {
		withFirewall(t, faultCase{at: &atStream, args: streamArgs, inject: kill("TERM"), bound: 30 * time.Second, codes: []int{4},
			check: wantReason("agent process stopped in its pod")})
	})
}

// TestFaultAgentNode: the agent's node (lab-w1) loses its kubelet, its
// kube-proxy, or the network.
func TestFaultAgentNode(t *testing.T) {
	proxyStop, proxyStart := faultLab(t, "proxy-stop", "lab-w1"), faultLab(t, "proxy-start", "lab-w1")
	lose, restore := faultLab(t, "node-lose", "lab-w1"), faultLab(t, "node-restore", "lab-w1")
	t.Run("kubelet stopped while waiting", func(t *testing.T) {
		// The pod never reports running: the start times out (--agent-timeout 20s).
		faultCase{at: &atWait, args: seedArgs, kubelet: true, bound: 45 * time.Second, codes: []int{4}}.run(t)
	})
	t.Run("kubelet stopped while streaming", func(t *testing.T) {
		// The stream runs through the kubelet: it is cut, or falls silent.
		withFirewall(t, faultCase{at: &atStream, args: streamArgs, kubelet: true, bound: 45 * time.Second, codes: []int{4},
			check: wantReason("exec stream broken", "exec stream stalled")})
	})
	t.Run("kubelet stopped during cleanup", func(t *testing.T) {
		faultCase{at: &atCleanup, args: seedArgs, kubelet: true, bound: 30 * time.Second, codes: []int{0}}.run(t)
	})
	t.Run("kube-proxy stopped before the run", func(t *testing.T) {
		// A real dataplane fault: the report names it, exit 1. (Stopping
		// kube-proxy and flushing its rules takes longer than a run.)
		faultCase{at: &atDiscovery, args: seedArgs, before: proxyStop, undo: proxyStart, bound: 30 * time.Second, codes: []int{1},
			check: func(t *testing.T, o faultOutcome) {
				if o.r == nil {
					t.Fatal("no report")
				}
				if got := strings.Join(verdicts(o.r, "hostname-nodeport"), ","); !strings.Contains(got, "@lab-w1") {
					t.Errorf("verdicts %q, want one naming lab-w1", got)
				}
			}}.run(t)
	})
	t.Run("kube-proxy stopped while streaming", func(t *testing.T) {
		withFirewall(t, faultCase{at: &atStream, args: streamArgs, inject: proxyStop, undo: proxyStart, bound: 30 * time.Second, codes: []int{0},
			check: func(t *testing.T, o faultOutcome) {
				if o.r == nil {
					t.Fatal("no report")
				}
				for _, f := range o.r.Findings {
					if f.Severity == "error" && f.Node != "lab-w1" && f.Node != "lab-w2" {
						t.Errorf("finding about neither lab-w1 (kube-proxy) nor lab-w2 (firewall): %+v", f)
					}
				}
			}})
	})
	t.Run("node lost while waiting", func(t *testing.T) {
		faultCase{at: &atWait, args: seedArgs, inject: lose, undo: restore, bound: 60 * time.Second, codes: []int{4}}.run(t)
	})
	t.Run("node lost while streaming", func(t *testing.T) {
		withFirewall(t, faultCase{at: &atStream, args: streamArgs, inject: delayed(time.Second, lose), undo: restore, bound: 60 * time.Second, codes: []int{4},
			check: wantReason("exec stream stalled")})
	})
	t.Run("node lost during cleanup", func(t *testing.T) {
		faultCase{at: &atCleanup, args: seedArgs, inject: lose, undo: restore, bound: 30 * time.Second, codes: []int{0}}.run(t)
	})
}

// The node agent runs: one node agent (hostNetwork, pinned to lab-w1), on
// the seed, and streaming for a while: lab-w2 drops NodePort traffic from
// lab-w1's own address, so that probe waits out --timeout.
var (
	nodeSeedArgs   = []string{"-n", "default", "--from", "nodes", "--agent-node-selector", "kubernetes.io/hostname=lab-w1", "--http", "--agent-timeout", "20s", "hostname", "hostname-nodeport"}
	nodeStreamArgs = []string{"-n", "default", "--from", "nodes", "--agent-node-selector", "kubernetes.io/hostname=lab-w1", "--http", "--timeout", "8s", "--fail-on", "never", "hostname-nodeport"}
)

// TestFaultNodeAgentNodeLost: the node of a node agent (lab-w1) disappears
// from the lab network while svccheck waits for the agent, while it
// streams, and during cleanup.
func TestFaultNodeAgentNodeLost(t *testing.T) {
	lose, restore := faultLab(t, "node-lose", "lab-w1"), faultLab(t, "node-restore", "lab-w1")
	t.Run("while waiting", func(t *testing.T) {
		faultCase{at: &atWait, args: nodeSeedArgs, inject: lose, undo: restore, bound: 60 * time.Second, codes: []int{4}}.run(t)
	})
	t.Run("while streaming", func(t *testing.T) {
		defer dropOn(t, "lab-w2", topo.ip["lab-w1"], "30080")()
		faultCase{at: &atStream, args: nodeStreamArgs, inject: delayed(time.Second, lose), undo: restore, bound: 60 * time.Second, codes: []int{4},
			check: wantReason("exec stream stalled", "agent node lost")}.run(t)
	})
	t.Run("during cleanup", func(t *testing.T) {
		faultCase{at: &atCleanup, args: nodeSeedArgs, inject: lose, undo: restore, bound: 30 * time.Second, codes: []int{0}}.run(t)
	})
}

func delayed(d time.Duration, f func(t *testing.T)) func(t *testing.T) {
	return func(t *testing.T) {
		time.Sleep(d)
		f(t)
	}
}

// TestFaultSIGTERM: svccheck itself is told to stop (SIGTERM, as a CI
// runner's timeout does) at each phase: it exits 130 with what it has, and
// what it created is gone when it exits.
func TestFaultSIGTERM(t *testing.T) {
	term := func(t *testing.T) { signalSvccheck(t, syscall.SIGTERM) }
	for _, at := range []*phase{&atPreflight, &atDiscovery, &atCreate, &atWait} {
		t.Run(at.name, func(t *testing.T) {
			faultCase{at: at, args: seedArgs, inject: term, bound: 25 * time.Second, codes: []int{130}, interrupt: true}.run(t)
		})
	}
	t.Run(atStream.name, func(t *testing.T) {
		withFirewall(t, faultCase{at: &atStream, args: streamArgs, inject: delayed(time.Second, term), bound: 25 * time.Second, codes: []int{130}, interrupt: true,
			check: func(t *testing.T, o faultOutcome) {
				if o.r == nil || !o.r.Interrupted {
					t.Errorf("want a partial report marked interrupted")
				}
			}})
	})
	// Told to stop while cleaning up, it finishes the cleanup.
	t.Run(atCleanup.name, func(t *testing.T) {
		faultCase{at: &atCleanup, args: seedArgs, inject: term, bound: 25 * time.Second, codes: []int{0, 130}}.run(t)
	})
}
