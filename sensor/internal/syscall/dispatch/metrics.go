package dispatch

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the sharder's counters to Prometheus: the workers and
// the times the capture reader had to wait for one of them (a stall means
// evaluation is slower than capture, and back-pressure reaches the ring
// buffer, where events are then dropped).
func (s *Sharder) Collector() prometheus.Collector { return collector{s} }

var (
	descStalls = prometheus.NewDesc("harrier_dispatch_stalls_total",
		"Times the capture reader waited for an evaluation worker whose queue was full.", nil, nil)
	descWorkers = prometheus.NewDesc("harrier_dispatch_workers",
		"Evaluation workers events are sharded over (by process).", nil, nil)
)

type collector struct{ s *Sharder }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descStalls
	ch <- descWorkers
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descStalls, prometheus.CounterValue, float64(c.s.Stalls()))
	ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(c.s.Workers()))
}
