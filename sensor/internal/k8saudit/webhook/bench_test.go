package webhook

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

func benchBody(b *testing.B) []byte {
	files, _ := filepath.Glob("../../../../../shared/testdata/falco/k8s_audit/*.json")
	if len(files) == 0 {
		require.Missing(b, "no shared audit files")
	}
	var items [][]byte
	for _, f := range files {
		fh, _ := os.Open(f)
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
				items = append(items, append([]byte(nil), l...))
			}
		}
		fh.Close()
	}
	var sel [][]byte
	for i := range 400 {
		sel = append(sel, items[i%len(items)])
	}
	return append(append([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[`), bytes.Join(sel, []byte(","))...), ']', '}')
}

// BenchmarkDecodeBody decodes a 400-event EventList (kube-apiserver's
// default webhook batch) of Falco's real audit events.
func BenchmarkDecodeBody(b *testing.B) {
	body := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		evs, err := DecodeBody(body)
		if err != nil || len(evs) != 400 {
			b.Fatal(err, len(evs))
		}
	}
	b.ReportMetric(float64(400*b.N)/b.Elapsed().Seconds(), "events/s")
}
