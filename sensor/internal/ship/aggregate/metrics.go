package aggregate

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the aggregator's state to Prometheus.
func (a *Aggregator) Collector() prometheus.Collector { return collector{a} }

var descHeld = prometheus.NewDesc("harrier_sensor_aggregation_held_alerts",
	"Repeated alerts held in open aggregation windows.", nil, nil)

type collector struct{ a *Aggregator }

func (collector) Describe(ch chan<- *prometheus.Desc) { ch <- descHeld }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(c.a.Held()))
}
