package cluster

import (
	"bytes"
	"io"
	"strings"
)

func bytesReader(p []byte) io.Reader { return bytes.NewReader(p) }

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
