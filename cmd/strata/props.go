package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// parseProperties reads Kafka's server.properties syntax (java.util.Properties):
//   - lines whose first non-blank character is '#' or '!' are comments; blank lines are skipped;
//   - the key ends at the first unescaped '=', ':' or whitespace; blanks around the separator
//     are dropped; a line with only a key has the empty value;
//   - a line ending in an odd number of backslashes continues on the next line, whose leading
//     blanks are dropped;
//   - escapes \t \n \r \f \uXXXX, and a backslash before any other character is that character.
//
// A later occurrence of a key replaces an earlier one.
func parseProperties(r io.Reader) (map[string]string, error) {
	props := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	lineNo := 0
	var logical strings.Builder
	continuing := false
	startLine := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if continuing {
			line = strings.TrimLeftFunc(line, isPropBlank)
		} else {
			line = strings.TrimLeftFunc(line, isPropBlank)
			if line == "" || line[0] == '#' || line[0] == '!' {
				continue
			}
			startLine = lineNo
			logical.Reset()
		}
		if endsWithContinuation(line) {
			logical.WriteString(line[:len(line)-1])
			continuing = true
			continue
		}
		logical.WriteString(line)
		continuing = false
		k, v, err := splitPropertyLine(logical.String())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", startLine, err)
		}
		props[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if continuing {
		k, v, err := splitPropertyLine(logical.String())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", startLine, err)
		}
		props[k] = v
	}
	return props, nil
}

func isPropBlank(r rune) bool { return r == ' ' || r == '\t' || r == '\f' }

func endsWithContinuation(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitPropertyLine splits one logical line into an unescaped key and value.
func splitPropertyLine(s string) (string, string, error) {
	keyEnd := len(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			i++
			continue
		}
		if c == '=' || c == ':' || isPropBlank(rune(c)) {
			keyEnd = i
			break
		}
	}
	rest := s[keyEnd:]
	rest = strings.TrimLeftFunc(rest, isPropBlank)
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeftFunc(rest[1:], isPropBlank)
	}
	key, err := unescapeProperty(s[:keyEnd])
	if err != nil {
		return "", "", err
	}
	if key == "" {
		return "", "", fmt.Errorf("empty key in %q", s)
	}
	val, err := unescapeProperty(rest)
	if err != nil {
		return "", "", err
	}
	return key, val, nil
}

func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break
		}
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf("malformed \\u escape in %q", s)
			}
			n, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf("malformed \\u escape in %q", s)
			}
			b.WriteRune(rune(n))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

// envPrefix is the prefix of environment variables that carry broker configuration.
const envPrefix = "STRATA_"

// envNotConfig lists STRATA_* variables that steer tooling (tests, benchmarks) rather than
// the broker; they are never turned into configuration keys.
var envNotConfig = map[string]bool{
	"STRATA_SOAK":       true,
	"STRATA_BENCH":      true,
	"STRATA_BIN":        true,
	"STRATA_BROKERS":    true,
	"STRATA_LOG_FORMAT": true,
	"STRATA_LOG_LEVEL":  true,
	"STRATA_CONFIG":     true,
	"STRATA_MINIO":      true,
	"STRATA_KEEP":       true,
}

// envKey maps an environment variable name to a configuration key: STRATA_LOG_DIRS ->
// log.dirs (prefix removed, lower case, '_' -> '.'). Strata's own keys may drop their
// "strata." part: STRATA_TIER_STORE -> strata.tier.store (no Kafka key starts with "tier.").
// ok is false for variables that are not configuration.
func envKey(name string) (string, bool) {
	if !strings.HasPrefix(name, envPrefix) || envNotConfig[name] {
		return "", false
	}
	rest := name[len(envPrefix):]
	if rest == "" {
		return "", false
	}
	for _, r := range rest {
		if !(unicode.IsUpper(r) || unicode.IsDigit(r) || r == '_') {
			return "", false
		}
	}
	key := strings.ToLower(strings.ReplaceAll(rest, "_", "."))
	if strings.HasPrefix(key, "tier.") {
		key = "strata." + key
	}
	return key, true
}

// propsFromEnv collects configuration from environ (os.Environ format).
func propsFromEnv(environ []string) map[string]string {
	props := map[string]string{}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if key, ok := envKey(name); ok {
			props[key] = val
		}
	}
	return props
}

// mergeProps layers property maps; later maps win.
func mergeProps(layers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range layers {
		for k, v := range l {
			out[k] = v
		}
	}
	return out
}

// loadPropertiesFile reads a server.properties file.
func loadPropertiesFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open config %q: %w", path, err)
	}
	defer f.Close()
	props, err := parseProperties(f)
	if err != nil {
		return nil, fmt.Errorf("cannot parse config %q: %w", path, err)
	}
	return props, nil
}

// isSecretKey reports whether the value of key must never be logged or printed.
func isSecretKey(key string) bool {
	k := strings.ToLower(key)
	return strings.Contains(k, "secret") || strings.Contains(k, "password") ||
		strings.Contains(k, "jaas") || strings.HasSuffix(k, "access.key") || strings.Contains(k, "token") ||
		brokerKeySensitive(k) // ssl.keystore.key ... (security.go)
}

// redacted returns props with secret values replaced, sorted by key, for logging.
func redacted(props map[string]string) []string {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		v := props[k]
		if isSecretKey(k) && v != "" {
			v = "[redacted]"
		}
		out = append(out, k+"="+v)
	}
	return out
}

// kvFlag is a repeatable key=value flag.
type kvFlag struct {
	keys []string
	vals map[string]string
}

func (f *kvFlag) String() string {
	if f == nil {
		return ""
	}
	return strings.Join(f.keys, ",")
}

func (f *kvFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if f.vals == nil {
		f.vals = map[string]string{}
	}
	if _, seen := f.vals[k]; !seen {
		f.keys = append(f.keys, k)
	}
	f.vals[k] = v
	return nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (f *listFlag) String() string { return strings.Join(*f, ",") }
func (f *listFlag) Set(s string) error {
	*f = append(*f, s)
	return nil
}
