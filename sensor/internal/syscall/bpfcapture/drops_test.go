package bpfcapture

import (
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// A one-page ring buffer that nobody reads fills at once: every later
// record must be counted as a drop, by type and CPU, and the records that
// did arrive plus the drops must account for every syscall made.
func TestDropsAreCounted(t *testing.T) {
	requireRoot(t)
	c, err := Open(Options{RingBytes: os.Getpagesize(), IgnorePID: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetInterest([]sysevent.Type{sysevent.SysOpenat, sysevent.SysClose}); err != nil {
		t.Fatal(err)
	}
	const n = 5000
	path := "/dev/null"
	for i := 0; i < n; i++ {
		fd, err := unix.Open(path, unix.O_RDONLY, 0) // openat(AT_FDCWD, ...)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
	}
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Drops == 0 || st.DropsByType[sysevent.SysOpenat] == 0 || st.DropsByType[sysevent.SysClose] == 0 {
		t.Fatalf("no drops counted for %d opens into a %d-byte ring: %+v", n, st.RingBytes, st)
	}
	var byCPU uint64
	for _, d := range st.DropsByCPU {
		byCPU += d
	}
	var byType uint64
	for _, d := range st.DropsByType {
		byType += d
	}
	if byCPU != st.Drops || byType != st.Drops {
		t.Errorf("drops %d, by CPU %d, by type %d", st.Drops, byCPU, byType)
	}

	// the same counts reach Prometheus
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var promDrops float64
	for _, mf := range mfs {
		if mf.GetName() == "harrier_capture_drops_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "openat" {
					promDrops = m.GetCounter().GetValue()
				}
			}
		}
	}
	if promDrops < float64(st.DropsByType[sysevent.SysOpenat]) {
		t.Errorf("prometheus openat drops %v < %d", promDrops, st.DropsByType[sysevent.SysOpenat])
	}

	// drain what fitted
	self := uint32(os.Getpid())
	got := 0
	done := make(chan struct{})
	go func() {
		c.rd.SetDeadline(time.Now().Add(500 * time.Millisecond))
		defer close(done)
		d := newDecoder(0)
		var ev sysevent.Event
		for {
			rec, err := c.rd.Read()
			if err != nil {
				return
			}
			ev.Reset()
			if d.decode(rec.RawSample, &ev) == nil && ev.PID == self && ev.Type == sysevent.SysOpenat && ev.Path == path {
				got++
			}
		}
	}()
	<-done
	if uint64(got)+st.DropsByType[sysevent.SysOpenat] < n {
		t.Errorf("%d openat delivered + %d dropped < %d made: silent loss", got, st.DropsByType[sysevent.SysOpenat], n)
	}
	t.Logf("%d opens: %d delivered, %d openat drops, %d total drops", n, got, st.DropsByType[sysevent.SysOpenat], st.Drops)
}
