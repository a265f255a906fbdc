package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svccheck/svccheck/internal/fixture"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/report"
)

// apiServer is a fake API server that answers the cleanup command's Lists
// with empty lists and records each request's path and Authorization.
type apiServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string
}

func newAPIServer(t *testing.T) *apiServer {
	s := &apiServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/jobs"):
			fmt.Fprint(w, `{"kind":"JobList","apiVersion":"batch/v1","metadata":{},"items":[]}`)
		case strings.HasSuffix(r.URL.Path, "/pods"):
			fmt.Fprint(w, `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

// kubeconfig writes a kubeconfig for server with the given user stanza.
func kubeconfig(t *testing.T, server, user string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]
contexts:
- {name: c, context: {cluster: c, user: u, namespace: shop}}
- {name: other, context: {cluster: c, user: u, namespace: other}}
current-context: c
users:
- name: u
  user:
%s
`, server, user)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func execute(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewCmd(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func TestCleanupTakesKubectlFlags(t *testing.T) {
	s := newAPIServer(t)
	kc := kubeconfig(t, s.URL, "    token: secret")
	for _, tc := range []struct {
		args []string
		out  string
		path string
	}{
		{[]string{"-A"}, "in all namespaces", "GET /apis/batch/v1/jobs Bearer secret"},
		{[]string{"-n", "tools"}, `in namespace "tools"`, "GET /apis/batch/v1/namespaces/tools/jobs Bearer secret"},
		{[]string{"--context", "other"}, `in namespace "other"`, "GET /apis/batch/v1/namespaces/other/jobs Bearer secret"},
		{[]string{"--agent-namespace", "svccheck"}, `in namespace "svccheck"`, "GET /apis/batch/v1/namespaces/svccheck/jobs Bearer secret"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, _, err := execute(t, context.Background(), append([]string{"cleanup", "--kubeconfig", kc}, tc.args...)...)
			if err != nil || !strings.Contains(out, "deleted 0 svccheck agent(s) "+tc.out) {
				t.Fatalf("err %v, out %q", err, out)
			}
			if reqs := s.requests(); !strings.Contains(strings.Join(reqs, "\n"), tc.path) {
				t.Errorf("requests %q, want %q", reqs, tc.path)
			}
		})
	}
}

// jwt is an unsigned ID token that expires in 2100: the oidc provider uses it
// without talking to the issuer.
func jwt() string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(`{"iss":"https://issuer.example","exp":4102444800}`)) + ".c2ln"
}

func TestAuthPlugins(t *testing.T) {
	s := newAPIServer(t)
	for name, user := range map[string]string{
		"oidc auth-provider": fmt.Sprintf("    auth-provider: {name: oidc, config: {idp-issuer-url: https://issuer.example, client-id: svccheck, id-token: %s}}", jwt()),
		"exec plugin":        `    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, interactiveMode: Never, args: [-c, 'echo "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"from-exec\"}}"']}`,
	} {
		t.Run(name, func(t *testing.T) {
			out, _, err := execute(t, context.Background(), "cleanup", "--kubeconfig", kubeconfig(t, s.URL, user))
			if err != nil || !strings.HasPrefix(out, "deleted 0") {
				t.Fatalf("err %v out %q", err, out)
			}
			want := "Bearer from-exec"
			if strings.HasPrefix(name, "oidc") {
				want = "Bearer " + jwt()
			}
			if reqs := s.requests(); !strings.HasSuffix(reqs[len(reqs)-1], want) {
				t.Errorf("last request %q, want %q", reqs[len(reqs)-1], want)
			}
		})
	}
}

// cancelOn makes the first verb on resource cancel the run, as Ctrl-C would
// while the request is in flight, and fail with the context's error.
func cancelOn(cs *fake.Clientset, verb, resource string, cancel context.CancelFunc) {
	cs.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		cancel()
		return true, nil, fmt.Errorf("Post \"https://api/apis/authorization.k8s.io/v1/selfsubjectaccessreviews\": %w", context.Canceled)
	})
}

func TestInterruptedExits130(t *testing.T) {
	for _, tc := range []struct {
		name           string
		args           []string
		verb, resource string
	}{
		{"preflight", []string{"--from", "cluster"}, "create", "selfsubjectaccessreviews"},
		{"cleanup", []string{"cleanup"}, "list", "jobs"},
		{"discovery", nil, "list", "endpointslices"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			o := newCommand(NewOptions(genericStreams(&out)))
			cs := fixture.Clientset(t, clusterFixture)
			o.client, o.namespace = cs, "default"
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cancelOn(cs, tc.verb, tc.resource, cancel)
			cmd := newCmd(o)
			cmd.SetArgs(tc.args)
			err := cmd.ExecuteContext(ctx)
			if ExitCode(err) != ExitInterrupted || err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "interrupted") {
				t.Errorf("err = %v (exit %d), want exit 130 with a one-line message", err, ExitCode(err))
			}
		})
	}
}

// proberFunc is a probe.Prober from a function.
type proberFunc func(context.Context, *probe.Probe) probe.Result

func (f proberFunc) Probe(ctx context.Context, p *probe.Probe) probe.Result { return f(ctx, p) }

func TestOutputFileCheckedBeforeTheRun(t *testing.T) {
	probed := 0
	counting := proberFunc(func(ctx context.Context, p *probe.Probe) probe.Result {
		probed++
		return fakeProber{}.Probe(ctx, p)
	})
	for _, path := range []string{filepath.Join(t.TempDir(), "missing", "r.json"), t.TempDir() + "/"} {
		out, _, code := runWith(t, counting, []string{"hostname-nodeport"}, "--output-file", path)
		if code != ExitUsage || out != "" || probed != 0 {
			t.Errorf("%s: exit %d, stdout %q, %d probes run; want exit 2 before any probe", path, code, out, probed)
		}
	}
}

func TestOutputFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	runWith(t, fakeProber{}, []string{"hostname-nodeport"}, "--output-file", path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".svccheck-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestRequestTimeout(t *testing.T) {
	out, _, err := execute(t, context.Background(), "--help")
	if err != nil || !strings.Contains(out, `--request-timeout string`) || !strings.Contains(out, `(default "15s")`) {
		t.Errorf("help does not show the 15s default: %v\n%s", err, out)
	}
	s := newAPIServer(t)
	kc := kubeconfig(t, s.URL, "    token: x")
	for _, tc := range []struct {
		flags []string
		want  string
	}{{nil, "15s"}, {[]string{"--request-timeout", "0"}, "0s"}, {[]string{"--request-timeout", "3"}, "3s"}, {[]string{"--request-timeout", "1m"}, "1m0s"}} {
		o := newCommand(NewOptions(genericStreams(&bytes.Buffer{})))
		cmd := newCmd(o)
		if err := cmd.ParseFlags(append([]string{"--kubeconfig", kc}, tc.flags...)); err != nil {
			t.Fatal(err)
		}
		if err := o.Complete(nil); err != nil {
			t.Fatal(err)
		}
		if got := o.restConfig.Timeout.String(); got != tc.want {
			t.Errorf("%v: timeout %s, want %s", tc.flags, got, tc.want)
		}
	}
}

func TestUsageErrorsBeforeTheCluster(t *testing.T) {
	s := newAPIServer(t)
	kc := kubeconfig(t, s.URL, "    token: x")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--request-timeout", "bogus"}, `invalid --request-timeout "bogus"`},
		{[]string{"--request-timeout", "-1s"}, `invalid --request-timeout "-1s"`},
		{[]string{"-l", "a b c"}, `invalid --selector "a b c"`},
		{[]string{"cleanup", "--request-timeout", "bogus"}, `invalid --request-timeout "bogus"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, err := execute(t, context.Background(), append(tc.args, "--kubeconfig", kc)...)
			if ExitCode(err) != ExitUsage || !strings.Contains(fmt.Sprint(err), tc.msg) {
				t.Errorf("err = %v (exit %d), want exit 2 with %q", err, ExitCode(err), tc.msg)
			}
			if reqs := s.requests(); len(reqs) != 0 {
				t.Errorf("the API server was asked %q", reqs)
			}
		})
	}
}

func TestNoKubeconfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_MASTER", "")
	for _, env := range []string{"", filepath.Join(home, "nope")} {
		t.Setenv("KUBECONFIG", env)
		for _, args := range [][]string{nil, {"cleanup"}} {
			_, _, err := execute(t, context.Background(), args...)
			looked := clientcmd.RecommendedHomeFile
			if env == "" {
				if _, err := os.Stat(looked); err == nil {
					continue // this machine has a kubeconfig
				}
			} else {
				looked = "KUBECONFIG=" + env
			}
			if ExitCode(err) != ExitCluster || !strings.Contains(fmt.Sprint(err), "no kubeconfig found") || !strings.Contains(fmt.Sprint(err), looked) ||
				!strings.Contains(fmt.Sprint(err), "in-cluster") {
				t.Errorf("KUBECONFIG=%q %v: err = %v (exit %d)", env, args, err, ExitCode(err))
			}
		}
	}
}

func TestBaselineVersions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		apiVersion string
		code       int
	}{{report.APIVersion, ExitOK}, {report.APIVersionV1Alpha1, ExitOK}, {"svccheck.dev/v1", ExitUsage}} {
		path := filepath.Join(dir, "base.json")
		data := fmt.Sprintf(`{"apiVersion":%q,"kind":"Report","metadata":{"generatedAt":"2026-01-01T00:00:00Z"},"services":[]}`, tc.apiVersion)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, errOut, code := runWith(t, fakeProber{}, []string{"hostname"}, "--baseline", path); code != tc.code {
			t.Errorf("baseline %s: exit %d, want %d (%s)", tc.apiVersion, code, tc.code, errOut)
		}
	}
}
