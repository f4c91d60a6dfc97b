package k8saudit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// FuzzDecode feeds arbitrary input to the decoder and extracts every field
// of every event it yields: nothing may panic or hang.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(podEvent))
	f.Add([]byte(rbacEvent))
	f.Add([]byte(`{"kind":"EventList","items":[{"auditID":"x","requestObject":{"spec":{"containers":[1,{"ports":7}],"volumes":[null,3]}}}]}`))
	f.Add([]byte(`[{"auditID":"x","requestObject":[]}]` + "\n{"))
	f.Add([]byte(`{"auditID":"x","requestObject":{"rules":[{"verbs":"*"}],"subjects":{}}}`))
	if files, _ := filepath.Glob(filepath.Join(sharedAudit, "*.json")); len(files) > 0 {
		for _, p := range files[:3] {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	type bound struct {
		name string
		ex   fields.Extract
	}
	var exs []bound
	for _, d := range Registry().Fields() {
		args := []string{""}
		switch {
		case d.Arg == fields.ArgRequired && d.ArgKind == fields.ArgKey:
			args = []string{"/requestObject/spec/containers/0/image", "/a~1b/0", "/", "command", "/etc*"}
		case d.Arg == fields.ArgOptional:
			args = []string{"", "0", "3"}
		}
		for _, a := range args {
			if ex, err := d.Bind(a); err == nil {
				exs = append(exs, bound{d.Name, ex})
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = DecodeBytes(data, func(e *Event) error {
			var v fields.Value
			for _, b := range exs {
				v.Reset()
				b.ex(e, &v)
			}
			return nil
		})
		_, _ = lookupPointer(data, []string{"a", "0", "b"})
	})
}
