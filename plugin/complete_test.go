package plugin

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// complete runs cobra's __complete as the shell scripts (and kubectl, through
// kubectl_complete-svccheck) do, and returns the candidates and directive.
func complete(t *testing.T, setup func(*command), args ...string) ([]string, string) {
	t.Helper()
	out, _, err := runOpts(t, fakeProber{}, setup, append([]string{"__complete"}, args...)...)
	if err != nil {
		t.Fatalf("__complete %v: %v", args, err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var names []string
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(l, "\t")
		names = append(names, name)
	}
	return names, lines[len(lines)-1]
}

func TestCompletion(t *testing.T) {
	extraNamespace := func(o *command) {
		_ = o.client.(*fake.Clientset).Tracker().Add(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	}
	for _, tc := range []struct {
		args []string
		want string
		dir  string
	}{
		{[]string{"hostname-n"}, "hostname-nodeport", ":4"},
		{[]string{"hostname", "hostname"}, "hostname-headless,hostname-nodeport", ":4"},
		{[]string{"-A", ""}, "cleanup,completion,config,help,schema,version", ":4"},
		{[]string{"-n", ""}, "default,shop", ":4"},
		{[]string{"--namespace", "s"}, "shop", ":4"},
		{[]string{"--agent-namespace", ""}, "default,shop", ":4"},
		{[]string{"cleanup", "--agent-namespace", "d"}, "default", ":4"},
		{[]string{"cleanup", "-n", "d"}, "default", ":4"},
		{[]string{"--node", "w"}, "worker1,worker2", ":4"},
		{[]string{"--from", ""}, "local,cluster,nodes,all,everywhere", ":4"},
		{[]string{"-o", "j"}, "json,junit,jsonpath=,jsonpath-as-json=,jsonpath-file=", ":4"},
		{[]string{"-o", "custom"}, "custom-columns=", ":6"},
		{[]string{"--fail-on", ""}, "error,warning,never", ":4"},
		{[]string{"--image-pull-policy", ""}, "Always,IfNotPresent,Never", ":4"},
		{[]string{"--color", ""}, "auto,always,never", ":4"},
		{[]string{"--node-address-type", "InternalIP,E"}, "InternalIP,ExternalIP,InternalIP,ExternalDNS", ":4"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, dir := complete(t, extraNamespace, tc.args...)
			if strings.Join(got, ",") != tc.want || dir != tc.dir {
				t.Errorf("completions %v %s, want %s %s", got, dir, tc.want, tc.dir)
			}
		})
	}
}

func TestCompletionFromKubeconfig(t *testing.T) {
	s := newAPIServer(t)
	kc := kubeconfig(t, s.URL, "    token: x")
	out, _, err := execute(t, context.Background(), "__complete", "--kubeconfig", kc, "--context", "")
	if err != nil || !strings.HasPrefix(out, "c\nother\n:4\n") {
		t.Errorf("contexts: %v %q", err, out)
	}
	out, _, err = execute(t, context.Background(), "__complete", "--kubeconfig", kc, "--user", "")
	if err != nil || !strings.HasPrefix(out, "u\n:4\n") {
		t.Errorf("users: %v %q", err, out)
	}
	// The fake API server answers 404 to a Service List: nothing to offer
	// but the subcommands, and no error.
	out, _, err = execute(t, context.Background(), "__complete", "--kubeconfig", kc, "")
	if err != nil || !strings.HasPrefix(out, "cleanup\t") || !strings.Contains(s.requests()[0], "GET /api/v1/namespaces/shop/services") {
		t.Errorf("services: %v %q %q", err, out, s.requests())
	}
}

func TestCompletionIsBounded(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	o := newCommand(NewOptions(genericStreams(&out)))
	o.completionTimeout = 300 * time.Millisecond
	cmd := newCmd(o)
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"__complete", "--kubeconfig", kubeconfig(t, srv.URL, "    token: x"), "--node", ""})
	start := time.Now()
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); out.String() != ":4\n" || d > 3*time.Second {
		t.Errorf("completions %q after %s", out.String(), d)
	}
}
