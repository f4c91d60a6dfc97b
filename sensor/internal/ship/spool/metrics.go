package spool

import (
	"github.com/prometheus/client_golang/prometheus"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Collector exports the spool's state to Prometheus; each scrape reads
// Stats.
func (s *Spool) Collector() prometheus.Collector { return collector{s} }

var (
	descAlerts = prometheus.NewDesc("harrier_sensor_spool_alerts",
		"Alerts in the spool, not yet acknowledged by the router.", nil, nil)
	descBytes = prometheus.NewDesc("harrier_sensor_spool_bytes",
		"Disk used by the spool's segment files.", nil, nil)
	descDropped = prometheus.NewDesc("harrier_sensor_spool_dropped_total",
		"Alerts dropped because the spool was full, by priority.", []string{"priority"}, nil)
	descCorrupt = prometheus.NewDesc("harrier_sensor_spool_corrupt_records_total",
		"Spool records skipped for a bad checksum.", nil, nil)
	descCommits = prometheus.NewDesc("harrier_sensor_spool_commits_total",
		"Group commits (fsyncs) that made alerts durable before their events were acknowledged.", nil, nil)
)

type collector struct{ s *Spool }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAlerts, descBytes, descDropped, descCorrupt, descCommits} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(descAlerts, prometheus.GaugeValue, float64(c.s.Len()))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(st.DiskBytes))
	for p := harrierv1.Priority_PRIORITY_EMERGENCY; p <= harrierv1.Priority_PRIORITY_DEBUG; p++ {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.Dropped[p]), p.FalcoName())
	}
	ch <- prometheus.MustNewConstMetric(descCorrupt, prometheus.CounterValue, float64(st.Corrupt))
	ch <- prometheus.MustNewConstMetric(descCommits, prometheus.CounterValue, float64(st.Commits))
}
