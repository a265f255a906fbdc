package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/svccheck/svccheck/report"
)

func TestKubectlOutputFormats(t *testing.T) {
	svcs := []string{"hostname", "hostname-nodeport"}
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-o", "jsonpath={.summary.result}"}, "fail"},
		{[]string{"-o", "jsonpath={range .services[*]}{.name}={.verdict}{'\\n'}{end}"}, "hostname=healthy\nhostname-nodeport=nodePathFailed\n"},
		{[]string{"-o", "jsonpath-as-json={.scope.services}"}, "[\n    [\n        \"hostname\",\n        \"hostname-nodeport\"\n    ]\n]\n"},
		{[]string{"-o", "go-template={{.kind}} {{.summary.result}}"}, "Report fail"},
		{[]string{"--template", "{{.apiVersion}}"}, report.APIVersion},
		{[]string{"-o", "name"}, "service/hostname\nservice/hostname-nodeport\n"},
		{[]string{"-o", "custom-columns=NAME:.name,VERDICT:verdict,READY:{.endpoints.ready},NOPE:.nope"},
			"NAME                VERDICT          READY   NOPE\nhostname            healthy          2       <none>\nhostname-nodeport   nodePathFailed   2       <none>\n"},
		{[]string{"-o", "custom-columns=NAME:.name", "--no-headers"}, "hostname\nhostname-nodeport\n"},
	} {
		t.Run(strings.Join(tc.flags, " "), func(t *testing.T) {
			out, errOut, code := runWith(t, fakeProber{brokenNode: "worker1"}, svcs, append([]string{"--http"}, tc.flags...)...)
			if code != ExitFailed || out != tc.want {
				t.Errorf("exit %d (stderr %q), stdout:\n%q\nwant:\n%q", code, errOut, out, tc.want)
			}
		})
	}
}

func TestOutputFormatErrors(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		msg   string
	}{
		{[]string{"-o", "jsonpath={.summary"}, "-o jsonpath={.summary: error parsing jsonpath"},
		{[]string{"-o", "custom-columns=NAME"}, `-o custom-columns: column "NAME": want HEADER:.json.path`},
		{[]string{"-o", "custom-columns="}, "-o custom-columns: no columns given"},
		{[]string{"-o", "go-template={{.x"}, "-o go-template={{.x: error parsing template"},
		{[]string{"-o", ""}, "-o needs a format"},
		{[]string{"-o", "wat"}, `unknown output format "wat": want one of table, wide, json, yaml, junit, name, jsonpath=`},
		{[]string{"--color", "sometimes"}, `unknown --color "sometimes": want auto, always, never`},
	} {
		t.Run(strings.Join(tc.flags, " "), func(t *testing.T) {
			out, _, err := runOpts(t, fakeProber{}, nil, append([]string{"hostname"}, tc.flags...)...)
			if ExitCode(err) != ExitUsage || out != "" || err == nil || !strings.HasPrefix(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
				t.Errorf("exit %d, stdout %q, err %v; want exit 2 and one line starting %q", ExitCode(err), out, err, tc.msg)
			}
		})
	}
}

func TestNoHeaders(t *testing.T) {
	for _, format := range []string{"table", "wide"} {
		with, _, _ := runWith(t, fakeProber{brokenNode: "worker1"}, []string{"hostname-nodeport"}, "-o", format)
		without, _, code := runWith(t, fakeProber{brokenNode: "worker1"}, []string{"hostname-nodeport"}, "-o", format, "--no-headers")
		header, rest, _ := strings.Cut(with, "\n")
		if code != ExitFailed || !strings.HasPrefix(header, "SERVICE ") || without != rest {
			t.Errorf("%s --no-headers:\n%s\nwant:\n%s", format, without, rest)
		}
	}
	quiet, _, _ := runWith(t, fakeProber{brokenNode: "worker1"}, []string{"hostname-nodeport"}, "-q")
	if got, _, _ := runWith(t, fakeProber{brokenNode: "worker1"}, []string{"hostname-nodeport"}, "-q", "--no-headers"); got != quiet {
		t.Errorf("--no-headers changed -q output:\n%s", got)
	}
}

func TestColor(t *testing.T) {
	const red = "\033[31mFAIL\033[0m"
	for _, tc := range []struct {
		color    string
		terminal bool
		noColor  string
		want     bool
	}{
		{"auto", false, "", false},
		{"auto", true, "", true},
		{"auto", true, "1", false},
		{"always", false, "1", true},
		{"never", true, "", false},
	} {
		t.Setenv("NO_COLOR", tc.noColor)
		out, _, err := runOpts(t, fakeProber{brokenNode: "worker1"}, func(o *command) {
			o.terminal = func(any) bool { return tc.terminal }
		}, "hostname-nodeport", "--color", tc.color)
		if ExitCode(err) != ExitFailed || strings.Contains(out, red) != tc.want {
			t.Errorf("--color %s, terminal %v, NO_COLOR=%q: coloured %v, want %v", tc.color, tc.terminal, tc.noColor, !tc.want, tc.want)
		}
	}
	if isTerminal(&bytes.Buffer{}) || isTerminal(os.NewFile(^uintptr(0), "nothing")) {
		t.Error("isTerminal is true for a buffer or a closed file")
	}
}

func TestVerbosityAndVersion(t *testing.T) {
	out, _, err := execute(t, context.Background(), "--version")
	if err != nil || out != "kubectl-svccheck version "+Version+"\n" {
		t.Errorf("--version: %v %q", err, out)
	}
	out, _, err = execute(t, context.Background(), "version")
	if err != nil || !strings.HasPrefix(out, "kubectl-svccheck "+Version+"\nagent image ") {
		t.Errorf("version: %v %q", err, out)
	}
	var logs bytes.Buffer
	klog.LogToStderr(false)
	klog.SetOutput(&logs)
	t.Cleanup(func() {
		klog.SetOutput(os.Stderr)
		klog.LogToStderr(true)
		_, _, _ = execute(t, context.Background(), "version", "-v", "0")
	})
	s := newAPIServer(t)
	kc := kubeconfig(t, s.URL, "    token: secret")
	if _, _, err := execute(t, context.Background(), "cleanup", "--kubeconfig", kc, "-v", "6"); err != nil {
		t.Fatal(err)
	}
	klog.Flush()
	if want := `"GET" url="` + s.URL + "/apis/batch/v1/namespaces/shop/jobs?labelSelector="; !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), `status="200 OK"`) {
		t.Errorf("-v 6 did not log the API requests (want %s):\n%s", want, logs.String())
	}
}

// TestDefaultImageIsTheReleasedOne: `make build` stamps `git describe`
// (v1.2.3), goreleaser and ko tag the image {{ .Version }} (1.2.3): the
// plugin must default to the image the release pushed.
func TestDefaultImageIsTheReleasedOne(t *testing.T) {
	data, err := os.ReadFile("../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var gr struct {
		Builds []struct{ Ldflags []string }
		Kos    []struct {
			Repositories []string
			Tags         []string
			Ldflags      []string
		}
	}
	if err := yaml.Unmarshal(data, &gr); err != nil {
		t.Fatal(err)
	}
	render := func(s string) string { return strings.ReplaceAll(s, "{{ .Version }}", "1.2.3") } // tag v1.2.3
	if len(gr.Kos) != 1 || len(gr.Kos[0].Repositories) != 1 || len(gr.Builds) != 1 {
		t.Fatalf("unexpected .goreleaser.yaml shape: %+v", gr)
	}
	pushed := gr.Kos[0].Repositories[0] + ":" + render(gr.Kos[0].Tags[0])
	for _, ld := range append(gr.Builds[0].Ldflags, gr.Kos[0].Ldflags...) {
		if !strings.Contains(ld, "plugin.Version={{ .Version }}") {
			t.Errorf("ldflags %q do not stamp plugin.Version with {{ .Version }}", ld)
		}
	}
	for _, version := range []string{"v1.2.3", "1.2.3"} { // make build, goreleaser
		if got := imageFor(version); got != pushed {
			t.Errorf("version %s defaults to image %s, the release pushes %s", version, got, pushed)
		}
	}
}

func TestCompletionScriptShipped(t *testing.T) {
	const script = "kubectl_complete-svccheck"
	fi, err := os.Stat(filepath.Join("..", script))
	if err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("%s missing or not executable: %v", script, err)
	}
	data, _ := os.ReadFile(filepath.Join("..", script))
	if !strings.Contains(string(data), `kubectl-svccheck __complete "$@"`) {
		t.Errorf("%s does not run kubectl-svccheck __complete:\n%s", script, data)
	}
	for _, f := range []string{"../.goreleaser.yaml", "../.krew.yaml"} {
		data, _ := os.ReadFile(f)
		if !strings.Contains(string(data), script) {
			t.Errorf("%s does not ship %s", f, script)
		}
	}
}
