package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestReadmeConfigReference keeps README.md's configuration reference accurate: every key
// row it documents must be exactly what the code generates (so removed keys and changed
// defaults fail). Keys added to the code since the README was generated are only logged.
// Regenerate with: go run ./cmd/strata config-keys --update-readme README.md
func TestReadmeConfigReference(t *testing.T) {
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skip("README.md not found:", err)
	}
	var gen bytes.Buffer
	writeConfigKeys(&gen)
	rows := func(s string) map[string]string {
		m := map[string]string{}
		for _, line := range strings.Split(s, "\n") {
			if strings.HasPrefix(line, "| `") {
				key, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
				m[key] = line
			}
		}
		return m
	}
	i, j := strings.Index(string(doc), configKeysBegin), strings.Index(string(doc), configKeysEnd)
	if i < 0 || j < i {
		t.Fatal("README.md lacks the config keys markers")
	}
	have, want := rows(string(doc[i:j])), rows(gen.String())
	for key, line := range have {
		if w, ok := want[key]; !ok {
			t.Errorf("README.md documents %q, which the code does not accept", key)
		} else if w != line {
			t.Errorf("README.md row for %q is stale:\n have %s\n want %s", key, line, w)
		}
	}
	for key := range want {
		if _, ok := have[key]; !ok {
			t.Logf("README.md does not list %q yet", key)
		}
	}
	if t.Failed() {
		t.Log("regenerate with: go run ./cmd/strata config-keys --update-readme README.md")
	}
}

func TestReplaceBetween(t *testing.T) {
	got, err := replaceBetween("a\nBEGIN\nold\nEND\nz", "BEGIN", "END", "new\n")
	if err != nil || got != "a\nBEGIN\nnew\nEND\nz" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := replaceBetween("no markers", "BEGIN", "END", ""); err == nil {
		t.Fatal("want error without markers")
	}
}

func TestConfigKeysListsTierKeys(t *testing.T) {
	var buf bytes.Buffer
	writeConfigKeys(&buf)
	for k := range tierKeys {
		if !strings.Contains(buf.String(), "| `"+k+"` |") {
			t.Errorf("config-keys lacks %s", k)
		}
	}
	if !strings.Contains(buf.String(), "| `log.dirs` |") {
		t.Error("config-keys lacks log.dirs")
	}
}
