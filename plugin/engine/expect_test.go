package engine

import (
	"strings"
	"testing"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
)

// TestAsClientNoteNamesSelectingServices: the note says which Services the
// agent's labels made it an endpoint of, never a ready one.
func TestAsClientNoteNamesSelectingServices(t *testing.T) {
	e := &expectations{client: &AsClient{Namespace: "default", Kind: "deployment", Name: "web"}, clientLabels: map[string]string{"app": "hostname"}}
	inv := probe.Inventory{Services: []probe.Service{
		{Namespace: "default", Name: "hostname", Selector: map[string]string{"app": "hostname"}},
		{Namespace: "default", Name: "peers", Selector: map[string]string{"app": "hostname"}, PublishNotReady: true},
		{Namespace: "other", Name: "hostname", Selector: map[string]string{"app": "hostname"}},
	}}
	fs := diagnose.ExpectationNotes(inv, probe.Plan{}, e.facts())
	want := "so default/hostname, default/peers listed it only as a not-ready endpoint while it ran; default/peers publish not-ready addresses"
	if len(fs) != 1 || !strings.Contains(fs[0].Message, want) {
		t.Errorf("%+v", fs)
	}
}
