package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// streamJSON writes r exactly as json.Encoder with a two-space indent would,
// one Service at a time: a report of 200,000 probes is never held in memory
// as one encoded document (about 800 bytes a probe), only as values and the
// encoding of its largest Service.
func streamJSON(w io.Writer, r *Report) error {
	head := *r
	head.Services = nil // encodes as null: the marker where the Services go
	b, err := json.MarshalIndent(&head, "", "  ")
	if err != nil {
		return err
	}
	const marker = "\n  \"services\": null"
	at := bytes.Index(b, []byte(marker))
	if at < 0 {
		return errors.New("report JSON without its services")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(b[:at])
	bw.WriteString("\n  \"services\": ")
	if err := writeServices(bw, r.Services); err != nil {
		return err
	}
	bw.Write(b[at+len(marker):])
	bw.WriteByte('\n')
	return bw.Flush()
}

// writeServices writes the services array at the report's second level of
// indentation, as MarshalIndent lays out an array.
func writeServices(w *bufio.Writer, svcs []Service) error {
	if svcs == nil {
		_, err := w.WriteString("null")
		return err
	}
	if len(svcs) == 0 {
		_, err := w.WriteString("[]")
		return err
	}
	w.WriteByte('[')
	for i := range svcs {
		b, err := json.MarshalIndent(&svcs[i], "    ", "  ")
		if err != nil {
			return err
		}
		w.WriteString("\n    ")
		w.Write(b)
		if i < len(svcs)-1 {
			w.WriteByte(',')
		}
	}
	_, err := w.WriteString("\n  ]")
	return err
}
