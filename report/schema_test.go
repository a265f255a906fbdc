package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
)

// schemaDigests pins the schema of each report version: a schema change
// needs a new APIVersion (and a new entry here), never an edit in place.
var schemaDigests = map[string]string{
	"svccheck.dev/v1alpha1": "f2ce62ac9efbf367fe3e57b0e51aa5a33b11d0c3407af33079a7c436b5e134dc",
	"svccheck.dev/v1alpha2": "d508a6ddc793ddce99429dfed9cf9a8e77bbb1f9dda5cfc1fccd14aeb648ff15",
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("report.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("report.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, data []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(v)
}

func TestSchemaIsPinnedToTheVersion(t *testing.T) {
	sum := sha256.Sum256(Schema)
	got := hex.EncodeToString(sum[:])
	if want := schemaDigests[APIVersion]; got != want {
		t.Fatalf("the schema of %s changed (sha256 %s, pinned %s): bump APIVersion and pin the new schema instead of editing a published one", APIVersion, got, want)
	}
	if !strings.Contains(string(Schema), `"apiVersion": {"const": "`+APIVersion+`"}`) {
		t.Errorf("schema does not pin apiVersion %s", APIVersion)
	}
}

// TestGoldenReportsMatchTheSchema validates this package's golden JSON and
// YAML reports (made by TestRenderGolden) against the schema.
func TestGoldenReportsMatchTheSchema(t *testing.T) {
	files := goldenReports(t, "testdata")
	if len(files) < 4 {
		t.Fatalf("golden JSON and YAML reports missing from testdata: %v (run go test -update)", files)
	}
	validateFiles(t, compileSchema(t), files)
}

// TestPluginGoldenReportsMatchTheSchema validates the plugin's golden JSON
// and YAML reports too. It fails when the directory or a report of either
// format is missing, so that moving them updates this test instead of
// turning the check off.
func TestPluginGoldenReportsMatchTheSchema(t *testing.T) {
	const dir = "../plugin/testdata"
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the plugin's golden reports: %v (moved? point this test at the new directory)", err)
	}
	files := goldenReports(t, dir)
	for _, ext := range []string{".json", ".yaml"} {
		if !slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, ext) }) {
			t.Fatalf("no golden %s report in %s (found %v): the plugin's golden reports moved or were renamed; point this test at them", ext, dir, files)
		}
	}
	validateFiles(t, compileSchema(t), files)
}

func goldenReports(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.json", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	return files
}

func validateFiles(t *testing.T, s *jsonschema.Schema, files []string) {
	t.Helper()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".yaml") {
			if data, err = yaml.YAMLToJSON(data); err != nil {
				t.Fatal(err)
			}
		}
		if err := validate(t, s, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestEveryFieldIsInTheSchema validates a report with every optional field set.
func TestEveryFieldIsInTheSchema(t *testing.T) {
	r := Report{APIVersion: APIVersion, Kind: Kind, Interrupted: true,
		Metadata:  Metadata{GeneratedAt: time.Unix(0, 0).UTC(), DurationMs: 5, Server: "https://x", Context: "c"},
		Scope:     Scope{Namespace: "n", AllNamespaces: true, Selector: "a=b", Services: []string{"s"}, From: []string{"local", "pod", "nodes"}},
		Inventory: Inventory{Services: 1},
		Summary:   Summary{FailOn: "warning", Result: "fail"},
		Services: []Service{{Namespace: "n", Name: "s", Type: "NodePort", ClusterIPs: []string{"10.0.0.1"}, ExternalTrafficPolicy: "Local",
			Verdict: "healthy", Matrix: &Matrix{Backends: []string{"p"}, Rows: []MatrixRow{{From: "node/a", Via: probe.ViaClusterIP, Node: "a", Port: "http", Seen: []bool{true}}}},
			Probes: []ProbeRow{{ID: "i", Port: "http", ServicePort: 80, Protocol: "TCP", From: "node/a", Via: probe.ViaHealthCheck, Node: "a", AddressType: "InternalIP",
				Pod: "p", Target: "1.2.3.4:80", HTTP: true, Expect: probe.Reach, ExpectReason: "r", Outcome: probe.OK, Pass: true, Detail: "d", LatencyMs: 1.5,
				HTTPStatus: 200, Backend: "p", Attribution: probe.AttrConntrack, Connections: 2, Failures: 1,
				Coverage: &Coverage{Seen: []string{"p"}, Missing: []string{"q"}, Total: 2, Budget: 21}}}}},
		Findings: []diagnose.Finding{{Namespace: "n", Service: "s", Severity: diagnose.SevWarning, Code: "exposed", Message: "m", Node: "a", Pod: "p", Probes: []string{"i"}}},
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	s := compileSchema(t)
	if err := validate(t, s, data); err != nil {
		t.Fatalf("a complete report does not match the schema: %v", err)
	}
	// The schema is strict: an unknown field is rejected.
	bad := bytes.Replace(data, []byte(`"kind":"Report"`), []byte(`"kind":"Report","extra":1`), 1)
	if err := validate(t, s, bad); err == nil {
		t.Error("the schema accepted an unknown top-level field")
	}
}
