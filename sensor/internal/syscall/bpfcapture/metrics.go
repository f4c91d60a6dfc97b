package bpfcapture

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the capture's counters to Prometheus: events
// delivered, kernel drops by event type, decode errors and
// the ring buffer's fill level. Each scrape reads the kernel's counters.
func (c *Capture) Collector() prometheus.Collector { return collector{c} }

var (
	descEvents = prometheus.NewDesc("harrier_capture_events_total",
		"Syscall events read from the kernel and decoded.", nil, nil)
	descDrops = prometheus.NewDesc("harrier_capture_drops_total",
		"Events lost in the kernel because the ring buffer was full, by event type.", []string{"type"}, nil)
	descFiltered = prometheus.NewDesc("harrier_capture_filtered_total",
		"Events the kernel prefilter kept in the kernel because no loaded rule could match them and no state needs them, by event type.", []string{"type"}, nil)
	descCompat = prometheus.NewDesc("harrier_capture_compat_syscalls_total",
		"32-bit (ia32) syscalls without an x86_64 equivalent, seen and not decoded.", nil, nil)
	descDecodeErrors = prometheus.NewDesc("harrier_capture_decode_errors_total",
		"Records from the kernel that could not be decoded.", nil, nil)
	descRingBytes = prometheus.NewDesc("harrier_capture_ring_bytes",
		"Size of the capture ring buffer.", nil, nil)
	descRingPending = prometheus.NewDesc("harrier_capture_ring_pending_bytes",
		"Bytes in the ring buffer not yet read.", nil, nil)
)

type collector struct{ c *Capture }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEvents, descDrops, descFiltered, descCompat, descDecodeErrors, descRingBytes, descRingPending} {
		ch <- d
	}
}

func (m collector) Collect(ch chan<- prometheus.Metric) {
	st, err := m.c.Stats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descDrops, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(st.Events))
	for t, n := range st.DropsByType {
		ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(n), t.String())
	}
	for t, n := range st.FilteredByType {
		ch <- prometheus.MustNewConstMetric(descFiltered, prometheus.CounterValue, float64(n), t.String())
	}
	ch <- prometheus.MustNewConstMetric(descCompat, prometheus.CounterValue, float64(st.Compat))
	ch <- prometheus.MustNewConstMetric(descDecodeErrors, prometheus.CounterValue, float64(st.DecodeErrors))
	ch <- prometheus.MustNewConstMetric(descRingBytes, prometheus.GaugeValue, float64(st.RingBytes))
	ch <- prometheus.MustNewConstMetric(descRingPending, prometheus.GaugeValue, float64(st.Pending))
}
