package config

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// block reads one YAML mapping with errors that name the full key, and
// reports keys nobody asked for (typos) as errors too.
type block struct {
	path string
	m    map[string]any
	used map[string]bool
	errs *[]error
}

func newBlock(path string, m map[string]any, errs *[]error) *block {
	if m == nil {
		m = map[string]any{}
	}
	return &block{path: path, m: m, used: map[string]bool{}, errs: errs}
}

func (b *block) key(k string) string {
	if b.path == "" {
		return k
	}
	return b.path + "." + k
}

func (b *block) errorf(k, format string, args ...any) {
	*b.errs = append(*b.errs, fmt.Errorf("%s: %s", b.key(k), fmt.Sprintf(format, args...)))
}

func (b *block) get(k string) (any, bool) {
	b.used[k] = true
	v, ok := b.m[k]
	if ok && v == nil {
		return nil, false
	}
	return v, ok
}

func (b *block) has(k string) bool {
	_, ok := b.m[k]
	return ok
}

// oneOf is str for a key that takes one of allowed values; another value
// is reported, naming the allowed ones, and returned as read.
func (b *block) oneOf(k, def string, allowed ...string) string {
	v := b.str(k, def)
	if !slices.Contains(allowed, v) {
		want := allowed[len(allowed)-1]
		if len(allowed) > 1 {
			want = strings.Join(allowed[:len(allowed)-1], ", ") + " or " + want
		}
		b.errorf(k, "%q: want %s", v, want)
	}
	return v
}

func (b *block) str(k, def string) string {
	v, ok := b.get(k)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case string:
		return x
	case int, int64, float64, bool:
		return fmt.Sprint(x)
	}
	b.errorf(k, "want a string, got %T", v)
	return def
}

func (b *block) boolean(k string, def bool) bool {
	v, ok := b.get(k)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case bool:
		return x
	case string:
		if x == "" {
			return def
		}
		p, err := strconv.ParseBool(x)
		if err == nil {
			return p
		}
	}
	b.errorf(k, "want true or false, got %v", v)
	return def
}

func (b *block) integer(k string, def int) int {
	v, ok := b.get(k)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		if x == float64(int(x)) {
			return int(x)
		}
	case string:
		if x == "" {
			return def
		}
		if p, err := strconv.Atoi(x); err == nil {
			return p
		}
	}
	b.errorf(k, "want an integer, got %v", v)
	return def
}

func (b *block) duration(k string, def time.Duration) time.Duration {
	v, ok := b.get(k)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case string:
		if x == "" {
			return def
		}
		d, err := time.ParseDuration(x)
		if err == nil && d >= 0 {
			return d
		}
	case int:
		// falcosidekick gives timeouts as integer milliseconds.
		if x >= 0 {
			return time.Duration(x) * time.Millisecond
		}
	}
	b.errorf(k, "want a duration like 10s or 500ms, got %v", v)
	return def
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}

func (b *block) size(k string, def int64) int64 {
	v, ok := b.get(k)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case int:
		if x >= 0 {
			return int64(x)
		}
	case int64:
		if x >= 0 {
			return x
		}
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return def
		}
		mult := int64(1)
		for _, u := range sizeUnits {
			if strings.HasSuffix(s, u.suffix) {
				s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
				break
			}
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			return n * mult
		}
	}
	b.errorf(k, "want a size like 512MiB or 2GiB, got %v", v)
	return def
}

// list accepts a YAML list or a comma-separated string (environment).
func (b *block) list(k string) []string {
	v, ok := b.get(k)
	if !ok {
		return nil
	}
	var out []string
	switch x := v.(type) {
	case string:
		for _, s := range strings.Split(x, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				b.errorf(k, "want a list of strings, found %v", e)
				return nil
			}
			out = append(out, s)
		}
	case []string:
		out = x
	default:
		b.errorf(k, "want a list of strings, got %T", v)
	}
	return out
}

// strmap accepts a mapping, or "k:v,k2:v2" (falcosidekick's environment form).
func (b *block) strmap(k string) map[string]string {
	v, ok := b.get(k)
	if !ok {
		return nil
	}
	out := map[string]string{}
	switch x := v.(type) {
	case map[string]any:
		for mk, mv := range x {
			out[mk] = fmt.Sprint(mv)
		}
	case string:
		for _, kv := range strings.Split(x, ",") {
			if kv = strings.TrimSpace(kv); kv == "" {
				continue
			}
			name, val, ok := strings.Cut(kv, ":")
			if !ok {
				b.errorf(k, "want name:value pairs separated by commas, got %q", kv)
				continue
			}
			out[strings.TrimSpace(name)] = strings.TrimSpace(val)
		}
	default:
		b.errorf(k, "want a mapping, got %T", v)
	}
	return out
}

func (b *block) sub(k string) *block {
	v, ok := b.get(k)
	if !ok {
		return newBlock(b.key(k), nil, b.errs)
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		b.errorf(k, "want a mapping, got %T", v)
	}
	return newBlock(b.key(k), m, b.errs)
}

// secret reads k, or the content of the file named by k_file (trailing
// newline removed). Setting both is an error.
func (b *block) secret(k string) string {
	val := b.str(k, "")
	file := b.str(k+"_file", "")
	if file == "" {
		return val
	}
	if val != "" {
		b.errorf(k, "set either %s or %s_file, not both", k, k)
		return val
	}
	c, err := os.ReadFile(file)
	if err != nil {
		b.errorf(k+"_file", "%v", err)
		return ""
	}
	return strings.TrimRight(string(c), "\r\n")
}

// finish reports unknown keys.
func (b *block) finish() {
	var unknown []string
	for k := range b.m {
		if !b.used[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		if hint, ok := sidekickHints[b.key(k)]; ok {
			b.errorf(k, "unknown key (falcosidekick's; in Harrier: %s)", hint)
			continue
		}
		b.errorf(k, "unknown key")
	}
}

// sidekickHints name the Harrier setting for falcosidekick top-level keys
// that Harrier does not read as they are.
var sidekickHints = map[string]string{
	"tlsserver":         "http.tls (cert_file, key_file, client_ca_file) and grpc.tls",
	"outputfieldformat": "the sensor's rule output; the router keeps each alert's output as received",
	"customfields":      "the sensor's rule output fields (no router-side fields)",
	"templatedfields":   "the sensor's rule output fields (no router-side fields)",
	"bracketreplacer":   "nothing: output field names are kept as Falco writes them",
}
