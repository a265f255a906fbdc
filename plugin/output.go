package plugin

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/svccheck/svccheck/report"
)

// writeReportFile writes the report atomically: a CI step never reads half a file.
func writeReportFile(name string, rep *report.Report) error {
	format, _ := report.FormatForFile(name)
	tmp, err := os.CreateTemp(filepath.Dir(name), ".svccheck-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if err := report.Render(tmp, rep, format); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
