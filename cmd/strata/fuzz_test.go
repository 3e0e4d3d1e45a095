package main

import (
	"bufio"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// escapeProperty writes s so that parseProperties reads it back exactly; key escapes the
// separators and comment markers too.
func escapeProperty(s string, key bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == ' ' && (key || i == 0):
			b.WriteString(`\ `)
		case key && (c == '=' || c == ':' || ((c == '#' || c == '!') && i == 0)):
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzParseProperties: parsing arbitrary bytes never panics, and any key (non-empty) and
// value written with escapeProperty read back exactly, also after a comment and with a
// continuation line splitting the value.
func FuzzParseProperties(f *testing.F) {
	f.Add("log.dirs", "/var/lib/strata", "listeners=PLAINTEXT://:9092\\\n  ,x")
	f.Add("a b=c", " lead\\trail\\", "# comment\n!x\n")
	f.Add("#k", "v\r\nw", `\u00e9=\uZZ`)
	f.Fuzz(func(t *testing.T, key, val, raw string) {
		_, _ = parseProperties(strings.NewReader(raw))
		if key == "" {
			return
		}
		ek, ev := escapeProperty(key, true), escapeProperty(val, false)
		half := len(ev) / 2
		for half > 0 && ev[half-1] == '\\' { // do not split an escape
			half--
		}
		doc := "# header\n" + ek + " = " + ev[:half] + "\\\n    " + ev[half:] + "\n"
		if half > 0 && half < len(ev) && ev[half] == ' ' {
			return // a continuation drops the next line's leading blanks, by design
		}
		got, err := parseProperties(strings.NewReader(doc))
		if err != nil {
			t.Fatalf("doc %q: %v", doc, err)
		}
		if len(got) != 1 || got[key] != val {
			t.Fatalf("doc %q: got %q, want {%q: %q}", doc, got, key, val)
		}
	})
}

// FuzzRecordFormat: any --format either fails to parse or formats any record without
// panicking; literal text without % or \ prints as itself.
func FuzzRecordFormat(f *testing.F) {
	f.Add(`%k %v %o %p %t %T %h %K %V %%\n\t\\`)
	f.Add(`plain`)
	f.Fuzz(func(t *testing.T, format string) {
		rf, err := parseRecordFormat(format)
		if err != nil {
			return
		}
		w := bufio.NewWriter(io.Discard)
		rf.write(w, &kgo.Record{Key: []byte("k"), Value: nil, Headers: []kgo.RecordHeader{{Key: "h"}}})
		if !strings.ContainsAny(format, `%\`) {
			var b strings.Builder
			bw := bufio.NewWriter(&b)
			rf.write(bw, &kgo.Record{})
			bw.Flush()
			if b.String() != format {
				t.Fatalf("literal %q printed as %q", format, b.String())
			}
		}
	})
}
