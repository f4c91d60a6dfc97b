package index

import (
	"os"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descAlerts  = prometheus.NewDesc("harrier_console_index_alerts", "Alerts held by the console's search index.", nil, nil)
	descIndexed = prometheus.NewDesc("harrier_console_index_indexed_total", "Alerts written to the console's search index.", nil, nil)
	descEvicted = prometheus.NewDesc("harrier_console_index_evicted_total", "Alerts removed from the console's search index by retention (age, count, size).", nil, nil)
	descLag     = prometheus.NewDesc("harrier_console_index_lag_records", "Journal records not yet indexed (the indexer yields to a busy ingest).", nil, nil)
	descBytes   = prometheus.NewDesc("harrier_console_index_bytes", "Size of the console index's database files on disk.", nil, nil)
)

// Collector exports the index's metrics.
func (x *Index) Collector() prometheus.Collector { return collector{x} }

type collector struct{ x *Index }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAlerts, descIndexed, descEvicted, descLag, descBytes} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	x := c.x
	ch <- prometheus.MustNewConstMetric(descAlerts, prometheus.GaugeValue, float64(x.Len()))
	ch <- prometheus.MustNewConstMetric(descIndexed, prometheus.CounterValue, float64(x.indexed.Load()))
	ch <- prometheus.MustNewConstMetric(descEvicted, prometheus.CounterValue, float64(x.evicted.Load()))
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(x.lag.Load()))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(x.Bytes()))
}

// Bytes is the size of the database files on disk.
func (x *Index) Bytes() int64 {
	var n int64
	for _, sfx := range []string{"", "-wal"} {
		if fi, err := os.Stat(x.path + sfx); err == nil {
			n += fi.Size()
		}
	}
	return n
}
