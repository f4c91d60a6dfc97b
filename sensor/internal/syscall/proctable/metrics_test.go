package proctable

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func TestCollector(t *testing.T) {
	tb, clk := newTestTable()
	seed(t, tb)
	tb.Apply(forkEv(200, 100, "bash"))
	tb.Apply(&sysevent.Event{Type: sysevent.TypeProcExit, TID: 200, PID: 200, Proc: sysevent.ProcInfo{GroupDead: true}})
	clk.Add(time.Minute)
	tb.Sweep()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(tb.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			got[mf.GetName()] = g.GetValue()
		} else {
			got[mf.GetName()] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"harrier_proctable_processes": 2, "harrier_proctable_created_total": 3,
		"harrier_proctable_exited_total": 1, "harrier_proctable_removed_total": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
