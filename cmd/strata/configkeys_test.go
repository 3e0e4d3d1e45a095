package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestReadmeConfigReference keeps README.md's configuration reference equal to what the code
// accepts. Fix a failure with: go run ./cmd/strata config-keys --update-readme README.md
func TestReadmeConfigReference(t *testing.T) {
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skip("README.md not found:", err)
	}
	var want bytes.Buffer
	writeConfigKeys(&want)
	updated, err := replaceBetween(string(doc), configKeysBegin, configKeysEnd, want.String())
	if err != nil {
		t.Fatal(err)
	}
	if updated != string(doc) {
		t.Fatal("README.md configuration reference is stale; run: go run ./cmd/strata config-keys --update-readme README.md")
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
