package broker

import (
	"errors"
	"fmt"
	"strconv"
)

// ClosestName returns the candidate nearest to name by edit distance, when it is near enough
// to be a likely typo (at most a third of name's length, at least 1, at most 4 edits); "".
// It is how a mistyped config key gets a "did you mean" in its error.
func ClosestName(name string, candidates []string) string {
	best, bestD := "", min(max(len(name)/3, 1), 4)+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// didYouMean is ` (did you mean "x"?)` for ClosestName's answer, or "".
func didYouMean(name string, candidates []string) string {
	if c := ClosestName(name, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// valueError words a config value that did not parse: what was wanted, never the Go
// parser's text (strconv.ParseInt: parsing "abc": invalid syntax).
func valueError(err error) string {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		if errors.Is(ne.Err, strconv.ErrRange) {
			return "out of range"
		}
		return "want a whole number"
	}
	return err.Error()
}

func topicKeyNames() []string {
	out := make([]string, len(topicKeys))
	for i := range topicKeys {
		out[i] = topicKeys[i].name
	}
	return out
}

func brokerKeyNames() []string {
	var out []string
	for _, k := range ConfigKeys() {
		out = append(out, k.Name)
	}
	return out
}
