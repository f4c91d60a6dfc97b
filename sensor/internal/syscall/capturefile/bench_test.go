package capturefile

import (
	"io"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// BenchmarkWrite: the common case, an event of a known process on a known
// fd (no snapshot to write).
func BenchmarkWrite(b *testing.B) {
	tb := proctable.New(proctable.Config{Containers: containers})
	w, _ := NewWriter(io.Discard, nil)
	for _, ev := range scenario()[:10] {
		tb.Apply(ev)
		_ = w.Write(ev)
	}
	ev := &sysevent.Event{Type: sysevent.SysRead, TID: 30, PID: 30, FD: 3, Ret: 100}
	tb.Apply(ev)
	b.ReportAllocs()
	for b.Loop() {
		ev.Num++
		ev.Time += 1000
		if err := w.Write(ev); err != nil {
			b.Fatal(err)
		}
	}
}
