package proctable

import (
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// BenchmarkApplyStateless: an event that changes no state (a read on a
// known fd): one table lookup and one fd index.
func BenchmarkApplyStateless(b *testing.B) {
	tb, _ := newTestTable()
	for pid := uint32(2); pid < 2000; pid++ {
		tb.Apply(forkEv(pid, 1, "p"))
	}
	tb.Apply(&sysevent.Event{Type: sysevent.SysOpenat, PID: 1000, TID: 1000, Ret: 3, Path: "/etc/hosts", Target: "/etc/hosts"})
	ev := &sysevent.Event{Type: sysevent.SysRead, PID: 1000, TID: 1000, FD: 3, Ret: 1}
	b.ReportAllocs()
	for b.Loop() {
		ev.Time++
		tb.Apply(ev)
	}
}

// BenchmarkApplyOpenClose: an fd is created and removed (two state
// changes; the open allocates its *FD).
func BenchmarkApplyOpenClose(b *testing.B) {
	tb, _ := newTestTable()
	tb.Apply(forkEv(1000, 1, "p"))
	open := &sysevent.Event{Type: sysevent.SysOpenat, PID: 1000, TID: 1000, Ret: 3, Path: "/etc/hosts", Target: "/etc/hosts"}
	cl := &sysevent.Event{Type: sysevent.SysClose, PID: 1000, TID: 1000, FD: 3}
	b.ReportAllocs()
	for b.Loop() {
		tb.Apply(open)
		tb.Apply(cl)
	}
}
