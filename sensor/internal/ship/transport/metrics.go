package transport

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the stream's state to Prometheus; each scrape reads
// Stats.
func (c *Client) Collector() prometheus.Collector { return collector{c} }

var (
	descConnected = prometheus.NewDesc("harrier_sensor_router_connected",
		"1 when the stream to the router is up.", nil, nil)
	descStreams = prometheus.NewDesc("harrier_sensor_router_streams_total",
		"Streams to the router, by result (opened, failed).", []string{"result"}, nil)
	descBatches = prometheus.NewDesc("harrier_sensor_router_batches_total",
		"Alert batches by outcome (sent, ok, retry, rejected).", []string{"status"}, nil)
	descAcked = prometheus.NewDesc("harrier_sensor_router_alerts_acked_total",
		"Alerts acknowledged by the router.", nil, nil)
	descTooLarge = prometheus.NewDesc("harrier_sensor_router_alerts_too_large_total",
		"Alerts dropped because they exceed the sensor's or the router's message limit.", nil, nil)
)

type collector struct{ c *Client }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descStreams, descBatches, descAcked, descTooLarge} {
		ch <- d
	}
}

func (m collector) Collect(ch chan<- prometheus.Metric) {
	st := m.c.Stats()
	up := 0.0
	if m.c.Connected() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(descStreams, prometheus.CounterValue, float64(st.Connects), "opened")
	ch <- prometheus.MustNewConstMetric(descStreams, prometheus.CounterValue, float64(st.Failures), "failed")
	ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(st.BatchesSent), "sent")
	ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(st.BatchesAcked), "ok")
	ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(st.BatchesRetry), "retry")
	ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(st.BatchesReject), "rejected")
	ch <- prometheus.MustNewConstMetric(descAcked, prometheus.CounterValue, float64(st.AlertsAcked))
	ch <- prometheus.MustNewConstMetric(descTooLarge, prometheus.CounterValue, float64(st.AlertsTooLarge))
}
