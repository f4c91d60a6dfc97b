package dispatch

import (
	"sync"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func TestPerProcessOrderAndSharding(t *testing.T) {
	const procs, perProc = 50, 2000
	var mu sync.Mutex
	seen := map[uint32][]uint64{}
	workerOf := map[uint32]int{}
	badWorker := 0
	s := New(Options{Workers: 4, Batch: 16, Depth: 4}, func(w int, ev *sysevent.Event) {
		mu.Lock()
		defer mu.Unlock()
		seen[ev.PID] = append(seen[ev.PID], ev.Num)
		if prev, ok := workerOf[ev.PID]; ok && prev != w {
			badWorker++
		}
		workerOf[ev.PID] = w
	})
	ev := &sysevent.Event{}
	var num uint64
	for i := 0; i < perProc; i++ {
		for p := uint32(1); p <= procs; p++ {
			num++
			ev.PID, ev.Num = p*7, num
			s.Submit(ev)
		}
		if i%100 == 0 {
			s.Flush()
		}
	}
	s.Close()
	if badWorker != 0 {
		t.Errorf("%d events of one process went to another worker", badWorker)
	}
	used := map[int]bool{}
	for pid, nums := range seen {
		used[workerOf[pid]] = true
		if len(nums) != perProc {
			t.Fatalf("pid %d: %d events, want %d", pid, len(nums), perProc)
		}
		for i := 1; i < len(nums); i++ {
			if nums[i] <= nums[i-1] {
				t.Fatalf("pid %d: event %d after %d: order broken", pid, nums[i], nums[i-1])
			}
		}
	}
	if len(used) < 3 {
		t.Errorf("only %d of 4 workers used for %d processes", len(used), procs)
	}
}

func TestSubmitCopiesTheEvent(t *testing.T) {
	got := make(chan string, 2)
	s := New(Options{Workers: 1, Batch: 2}, func(_ int, ev *sysevent.Event) { got <- ev.Path })
	ev := &sysevent.Event{PID: 1, Path: "/a"}
	s.Submit(ev)
	ev.Path = "/b" // the reader reuses its event
	s.Submit(ev)
	s.Close()
	if a, b := <-got, <-got; a != "/a" || b != "/b" {
		t.Fatalf("got %q, %q", a, b)
	}
}

func BenchmarkSubmit(b *testing.B) {
	s := New(Options{Workers: 2}, func(int, *sysevent.Event) {})
	ev := &sysevent.Event{Path: "/etc/passwd"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev.PID = uint32(i & 1023)
		s.Submit(ev)
	}
	s.Close()
}

// BenchmarkSubmitOwned is the hand-off the syscall source uses: the
// event is filled in place (here: two fields, as a decoder sets its
// fields) and handed over without a copy.
func BenchmarkSubmitOwned(b *testing.B) {
	s := New(Options{Workers: 2}, func(int, *sysevent.Event) {})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev := s.Get()
		ev.PID = uint32(i & 1023)
		ev.Path = "/etc/passwd"
		s.SubmitOwned(ev)
	}
	s.Close()
}
