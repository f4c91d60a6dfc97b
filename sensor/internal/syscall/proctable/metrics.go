package proctable

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the table's counters to Prometheus:
// harrier_proctable_processes (gauge) and harrier_proctable_*_total.
func (tb *Table) Collector() prometheus.Collector { return collector{tb} }

type collector struct{ tb *Table }

var (
	descProcs = prometheus.NewDesc("harrier_proctable_processes",
		"Processes in the process table (live and recently exited).", nil, nil)
	descCounters = []struct {
		desc *prometheus.Desc
		get  func(Stats) uint64
	}{
		{prometheus.NewDesc("harrier_proctable_created_total", "Processes added to the table.", nil, nil),
			func(s Stats) uint64 { return s.Created }},
		{prometheus.NewDesc("harrier_proctable_from_proc_total", "Processes read from /proc (at start or first seen).", nil, nil),
			func(s Stats) uint64 { return s.FromProc }},
		{prometheus.NewDesc("harrier_proctable_exited_total", "Processes seen exiting.", nil, nil),
			func(s Stats) uint64 { return s.Exited }},
		{prometheus.NewDesc("harrier_proctable_healed_total", "Processes found gone from /proc without an exit event (lost events).", nil, nil),
			func(s Stats) uint64 { return s.Healed }},
		{prometheus.NewDesc("harrier_proctable_evicted_total", "Processes evicted to keep the table under its size bound.", nil, nil),
			func(s Stats) uint64 { return s.Evicted }},
		{prometheus.NewDesc("harrier_proctable_removed_total", "Exited processes removed after the grace period.", nil, nil),
			func(s Stats) uint64 { return s.Removed }},
		{prometheus.NewDesc("harrier_proctable_fd_lookups_total", "Fds unknown to the table (their open stayed in the kernel) looked up in /proc for an alert, by result.",
			nil, prometheus.Labels{"result": "resolved"}), func(s Stats) uint64 { return s.FDResolved }},
		{prometheus.NewDesc("harrier_proctable_fd_lookups_total", "Fds unknown to the table (their open stayed in the kernel) looked up in /proc for an alert, by result.",
			nil, prometheus.Labels{"result": "cached"}), func(s Stats) uint64 { return s.FDCached }},
		{prometheus.NewDesc("harrier_proctable_fd_lookups_total", "Fds unknown to the table (their open stayed in the kernel) looked up in /proc for an alert, by result.",
			nil, prometheus.Labels{"result": "unresolved"}), func(s Stats) uint64 { return s.FDUnresolved }},
	}
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descProcs
	for _, d := range descCounters {
		ch <- d.desc
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.tb.Stats()
	ch <- prometheus.MustNewConstMetric(descProcs, prometheus.GaugeValue, float64(s.Live))
	for _, d := range descCounters {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.get(s)))
	}
}
