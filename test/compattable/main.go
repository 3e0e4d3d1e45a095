// Command compattable turns the `go test -json` output of the client compatibility tests
// (test/jvm, test/compat) into the compatibility table of README.md: one row for each
// top-level test that names its client in a "client: ..." log line, with its result and
// the checks (subtests) that passed, and the deliberate differences from Apache Kafka
// that the tests logged as "difference: ...". `make compat-table` runs it.
//
//	go run ./test/compattable --json test/artifacts/compat.json --readme README.md
//
// The table goes between the lines <!-- compat-table:begin --> and <!-- compat-table:end -->.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

const (
	begin = "<!-- compat-table:begin -->"
	end   = "<!-- compat-table:end -->"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// test is one top-level test's outcome.
type test struct {
	pkg, name, client, result string
	passed, failed            []string // subtests
}

var (
	clientRe = regexp.MustCompile(`^\s+\S+\.go:\d+: client: (.+)$`)
	diffRe   = regexp.MustCompile(`^\s+\S+\.go:\d+: difference: (.+)$`)
)

func main() {
	jsonFile := flag.String("json", "test/artifacts/compat.json", "go test -json output")
	readme := flag.String("readme", "README.md", "file whose table to replace")
	flag.Parse()
	table, err := build(*jsonFile)
	if err == nil {
		err = insert(*readme, table)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "compattable:", err)
		os.Exit(1)
	}
}

func build(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot open %q: %w", path, err)
	}
	defer f.Close()
	tests := map[string]*test{}
	var order []string
	var diffs []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
			continue
		}
		top, sub, isSub := strings.Cut(e.Test, "/")
		key := e.Package + "." + top
		tt := tests[key]
		if tt == nil {
			tt = &test{pkg: e.Package[strings.LastIndex(e.Package, "/")+1:], name: top}
			tests[key] = tt
			order = append(order, key)
		}
		switch e.Action {
		case "output":
			line := strings.TrimRight(e.Output, "\n")
			if m := clientRe.FindStringSubmatch(line); m != nil && tt.client == "" {
				tt.client = m[1]
			}
			if m := diffRe.FindStringSubmatch(line); m != nil && !slices.Contains(diffs, m[1]) {
				diffs = append(diffs, m[1])
			}
		case "pass", "fail", "skip":
			switch {
			case !isSub:
				tt.result = e.Action
			case strings.Contains(sub, "/"): // deeper levels count with their parent
			case e.Action == "pass":
				tt.passed = append(tt.passed, sub)
			case e.Action == "fail":
				tt.failed = append(tt.failed, sub)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("cannot read %q: %w", path, err)
	}
	// Stable output whatever order the parallel tests ran in: by package, then test name.
	slices.SortFunc(order, func(a, c string) int {
		ta, tc := tests[a], tests[c]
		if ta.pkg != tc.pkg {
			return strings.Compare(tc.pkg, ta.pkg) // jvm before compat
		}
		return strings.Compare(ta.name, tc.name)
	})
	slices.Sort(diffs)
	var b strings.Builder
	b.WriteString("| Client or tool | Test | Result | Checks passed |\n| --- | --- | --- | --- |\n")
	rows := 0
	for _, key := range order {
		tt := tests[key]
		if tt.client == "" || tt.result == "" || tt.result == "skip" {
			continue
		}
		checks := strings.Join(tt.passed, ", ")
		if checks == "" && tt.result == "pass" {
			checks = "all"
		}
		if len(tt.failed) > 0 {
			checks += "; **failed: " + strings.Join(tt.failed, ", ") + "**"
		}
		fmt.Fprintf(&b, "| %s | `%s %s` | %s | %s |\n", esc(tt.client), tt.pkg, tt.name, tt.result, esc(checks))
		rows++
	}
	if rows == 0 {
		return "", fmt.Errorf("%q holds no test that names its client", path)
	}
	if len(diffs) > 0 {
		b.WriteString("\nWhere Strata answers differently from Apache Kafka, on purpose (the tests check Strata's answer):\n\n")
		for _, d := range diffs {
			fmt.Fprintf(&b, "- %s\n", d)
		}
	}
	return b.String(), nil
}

func esc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// insert replaces what lies between the markers of path with table.
func insert(path, table string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read %q: %w", path, err)
	}
	i, j := bytes.Index(old, []byte(begin)), bytes.Index(old, []byte(end))
	if i < 0 || j < i {
		return fmt.Errorf("%q lacks the lines %s and %s", path, begin, end)
	}
	var out bytes.Buffer
	out.Write(old[:i+len(begin)])
	out.WriteString("\n")
	out.WriteString(table)
	out.Write(old[j:])
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	return nil
}
