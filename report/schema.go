package report

import _ "embed"

// Schema is the JSON Schema (draft 2020-12) of the JSON report for
// APIVersion. It changes only together with APIVersion.
//
//go:embed schema/v1alpha2.json
var Schema []byte
