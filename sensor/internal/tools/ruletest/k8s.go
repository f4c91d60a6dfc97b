package ruletest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
)

// errSkip marks a case that cannot run here (its data is absent); the
// message says why.
type errSkip struct{ reason string }

func (e *errSkip) Error() string { return e.reason }

// k8sEvents builds the audit events of a case.
func (f *File) k8sEvents(spec *K8sAuditSpec) ([]fields.Event, error) {
	var docs []any
	switch {
	case spec.File != "":
		p := f.resolve(spec.File)
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) && f.outsideBase(p) {
			return nil, &errSkip{fmt.Sprintf("audit file %s not found (data outside the repository)", p)}
		}
		if err != nil {
			return nil, fmt.Errorf("k8s_audit: %w", err)
		}
		n := 0
		err = k8saudit.DecodeBytes(data, func(ev *k8saudit.Event) error {
			n++
			if spec.Index != 0 && n != spec.Index {
				return nil
			}
			var doc any
			if err := json.Unmarshal(ev.Raw(), &doc); err != nil {
				return err
			}
			docs = append(docs, doc)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("k8s_audit: %s: %w", p, err)
		}
		if spec.Index > n {
			return nil, fmt.Errorf("k8s_audit: %s has %d events, index %d asked", p, n, spec.Index)
		}
		if len(docs) == 0 {
			return nil, fmt.Errorf("k8s_audit: %s holds no events", p)
		}
	case spec.Template != "":
		docs = []any{deepCopy(jsonable(f.templates[spec.Template]))}
	default:
		docs = []any{deepCopy(jsonable(spec.Event))}
	}
	// Edits apply in pointer order, so that a member set whole ("/a") is
	// in place before edits inside it ("/a/b").
	ptrs := make([]string, 0, len(spec.Set))
	for ptr := range spec.Set {
		ptrs = append(ptrs, ptr)
	}
	sort.Strings(ptrs)
	evs := make([]fields.Event, 0, len(docs))
	for _, doc := range docs {
		for _, ptr := range ptrs {
			v := spec.Set[ptr]
			var err error
			if doc, err = setPointer(doc, ptr, jsonable(v)); err != nil {
				return nil, fmt.Errorf("k8s_audit: set %s: %w", ptr, err)
			}
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("k8s_audit: %w", err)
		}
		ev, err := k8saudit.ParseEvent(raw)
		if err != nil {
			return nil, fmt.Errorf("k8s_audit: %w", err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// jsonable turns what yaml.v3 decodes into what encoding/json encodes the
// same way: timestamps back to text, map[any]any keys to strings.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return v
}

func deepCopy(v any) any { return jsonable(v) }

// setPointer sets the member named by the JSON pointer ptr in doc to v
// (nil removes it), creating objects on the way, and returns the new doc.
// "-" as the last array token appends.
func setPointer(doc any, ptr string, v any) (any, error) {
	if ptr == "" {
		return v, nil
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, fmt.Errorf("JSON pointer must start with /")
	}
	toks := strings.Split(ptr[1:], "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return setIn(doc, toks, v)
}

func setIn(cur any, toks []string, v any) (any, error) {
	tok, last := toks[0], len(toks) == 1
	switch c := cur.(type) {
	case nil:
		if v == nil {
			return nil, nil // removing below nothing
		}
		return setIn(map[string]any{}, toks, v)
	case map[string]any:
		if last {
			if v == nil {
				delete(c, tok)
			} else {
				c[tok] = v
			}
			return c, nil
		}
		child, err := setIn(c[tok], toks[1:], v)
		if err != nil {
			return nil, err
		}
		if child != nil {
			c[tok] = child
		}
		return c, nil
	case []any:
		if tok == "-" && last {
			if v == nil {
				return c, nil
			}
			return append(c, v), nil
		}
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i >= len(c) {
			return nil, fmt.Errorf("array index %q out of range (length %d)", tok, len(c))
		}
		if last {
			if v == nil {
				return append(c[:i:i], c[i+1:]...), nil
			}
			c[i] = v
			return c, nil
		}
		child, err := setIn(c[i], toks[1:], v)
		if err != nil {
			return nil, err
		}
		c[i] = child
		return c, nil
	}
	return nil, fmt.Errorf("%q: cannot descend into a %T", tok, cur)
}
