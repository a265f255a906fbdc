package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/svccheck/svccheck/probe/diagnose"
)

// TestStreamJSONIsTheEncoders: the streamed report is byte for byte what
// json.Encoder writes, for reports with and without Services.
func TestStreamJSONIsTheEncoders(t *testing.T) {
	broken := Build(brokenInput(t, diagnose.SevError))
	healthy := Build(healthyInput(t))
	empty := Build(Input{})
	none := empty
	none.Services = nil
	for name, r := range map[string]*Report{"broken": &broken, "healthy": &healthy, "empty": &empty, "nil services": &none} {
		var want, got bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
		if err := streamJSON(&got, r); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			t.Errorf("%s: streamed JSON differs:\n%s\nwant:\n%s", name, got.String(), want.String())
		}
	}
}
