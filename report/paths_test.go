package report

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/svccheck/svccheck/probe"
)

// TestSchemaViaIsThePathKinds: the schema of APIVersion (Schema, pinned by
// TestSchemaIsPinnedToTheVersion) lets a probe's via be exactly the
// registered path kinds. A new kind needs a new schema version.
func TestSchemaViaIsThePathKinds(t *testing.T) {
	var doc struct {
		Defs struct {
			Via struct {
				Enum []string `json:"enum"`
			} `json:"via"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema, &doc); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, k := range probe.PathKinds() {
		kinds = append(kinds, string(k.Via))
	}
	schema := doc.Defs.Via.Enum
	for _, v := range kinds {
		if !slices.Contains(schema, v) {
			t.Errorf("path kind %s is not in the $defs/via enum of the %s schema", v, APIVersion)
		}
	}
	for _, v := range schema {
		if !slices.Contains(kinds, v) {
			t.Errorf("the %s schema's $defs/via enum has %s, which no path kind registers", APIVersion, v)
		}
	}
	if len(schema) != len(kinds) {
		t.Errorf("the %s schema's $defs/via enum lists %d values, %d path kinds are registered", APIVersion, len(schema), len(kinds))
	}
}
