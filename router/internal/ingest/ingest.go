// Package ingest accepts alerts into the journal: the gRPC Ingest stream
// from sensors and Falco's HTTP JSON (http_output). An alert is acknowledged
// only once the journal has it on disk.
package ingest

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of both transports.
type Metrics struct {
	Alerts   *prometheus.CounterVec   // by transport
	Batches  *prometheus.CounterVec   // by transport, status
	Duration *prometheus.HistogramVec // time to durable store, by transport
	Invalid  *prometheus.CounterVec   // alerts refused alone (dead-lettered), by transport
	TooLarge *prometheus.CounterVec   // messages over the receive limit, by transport
}

// NewMetrics creates and registers (when reg is non-nil) the metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_ingested_alerts_total",
			Help: "Alerts durably stored, by transport."}, []string{"transport"}),
		Batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_ingest_batches_total",
			Help: "Batches (gRPC) or requests (HTTP) answered, by transport and status."}, []string{"transport", "status"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "harrier_router_ingest_store_seconds",
			Help: "Time from receiving a batch to its durable storage.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)},
			[]string{"transport"}),
	}
	m.Invalid = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_ingest_invalid_alerts_total",
		Help: "Invalid alerts refused alone from an otherwise stored batch, kept as dead letters of output \"ingest\"."}, []string{"transport"})
	m.TooLarge = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_ingest_too_large_total",
		Help: "Messages refused for exceeding the receive limit (grpc.max_recv_bytes)."}, []string{"transport"})
	// Exported from the start, so a scrape shows 0 rather than nothing.
	m.Invalid.WithLabelValues("grpc")
	m.TooLarge.WithLabelValues("grpc")
	if reg != nil {
		reg.MustRegister(m.Alerts, m.Batches, m.Duration, m.Invalid, m.TooLarge)
	}
	return m
}

var errEmpty = errors.New("no alerts")

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
