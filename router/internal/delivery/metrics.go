package delivery

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/harrier-security/harrier/router/internal/journal"
)

// Metrics are the per-output delivery metrics. Register them once per
// process; every Pipeline built with them shares the series.
type Metrics struct {
	Sent         *prometheus.CounterVec
	Failed       *prometheus.CounterVec
	Retried      *prometheus.CounterVec
	DeadLettered *prometheus.CounterVec
	// DeadLetterFailures counts dead-letter writes that failed.
	DeadLetterFailures *prometheus.CounterVec
	Filtered           *prometheus.CounterVec
	// Throttled counts alerts held back by the output's throttle;
	// Summaries the follow-up alerts that report them.
	Throttled     *prometheus.CounterVec
	Summaries     *prometheus.CounterVec
	LostRetention *prometheus.CounterVec
	Latency       *prometheus.HistogramVec
	BatchSize     *prometheus.HistogramVec

	// Lost counts alerts an output never consumed, by reason: deleted
	// (retention, or segments removed), damaged, missing.
	Lost *prometheus.CounterVec
	// CursorRepairs counts cursors found ahead of the journal at start.
	CursorRepairs *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them (and the queue gauges of
// p, if non-nil) with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_output_sent_total",
			Help: "Alerts delivered by the output."}, []string{"output"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_output_failed_total",
			Help: "Alerts whose delivery attempt failed (transient or permanent)."}, []string{"output"}),
		Retried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_output_retried_total",
			Help: "Alerts scheduled for another delivery attempt after a transient failure."}, []string{"output"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_output_dead_lettered_total",
			Help: "Alerts refused permanently and stored as dead letters."}, []string{"output"}),
		DeadLetterFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_output_dead_letter_failures_total",
			Help: "Dead-letter writes that failed (a failing disk); the alerts stay queued and the write is tried again."}, []string{"output"}),
		Filtered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_output_filtered_total",
			Help: "Alerts skipped by the output's minimumpriority or filters."}, []string{"output"}),
		Throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_output_throttled_total",
			Help: "Alerts held back by the output's throttle (each is counted in a summary alert)."}, []string{"output"}),
		Summaries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_output_throttle_summaries_total",
			Help: "Summary alerts the output's throttle sent for the alerts it held back."}, []string{"output"}),
		LostRetention: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_output_lost_to_retention_total",
			Help: "Alerts this output never consumed because journal retention (or a removed segment) deleted them first."}, []string{"output"}),
		Lost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_output_lost_total",
			Help: "Alerts this output never consumed, by reason: deleted (retention or removed segments), damaged (bad records in the journal), missing (sequence numbers with no record: a lost tail, a cursor ahead)."},
			[]string{"output", "reason"}),
		CursorRepairs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_output_cursor_repairs_total",
			Help: "Stored cursors found ahead of the journal at start (segments deleted or truncated); the journal skips forward past them."}, []string{"output"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "harrier_router_output_delivery_latency_seconds",
			Help:    "Time from durable ingest to successful delivery.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"output"}),
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "harrier_router_output_batch_size",
			Help: "Alerts per delivery attempt.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}, []string{"output"}),
	}
	if reg != nil {
		reg.MustRegister(m.Sent, m.Failed, m.Retried, m.DeadLettered, m.DeadLetterFailures, m.Filtered, m.Throttled, m.Summaries, m.LostRetention, m.Latency, m.BatchSize,
			m.Lost, m.CursorRepairs)
	}
	return m
}

// zero creates output's counter series at 0, so that /metrics lists each
// of them (an alert rule on an increase needs the series before the first
// event).
func (m *Metrics) zero(output string) {
	for _, v := range []*prometheus.CounterVec{m.Sent, m.Failed, m.Retried, m.DeadLettered, m.DeadLetterFailures, m.Filtered, m.Throttled, m.Summaries, m.LostRetention, m.CursorRepairs} {
		v.WithLabelValues(output)
	}
	for _, reason := range []string{journal.LossDeleted, journal.LossDamaged, journal.LossMissing} {
		m.Lost.WithLabelValues(output, reason)
	}
}

// queueCollector reports queue depth, oldest undelivered age and state per
// output at scrape time.
type queueCollector struct {
	p      *Pipeline
	depth  *prometheus.Desc
	oldest *prometheus.Desc
	up     *prometheus.Desc
}

// Collector returns a prometheus.Collector for the pipeline's queue gauges.
func (p *Pipeline) Collector() prometheus.Collector {
	return &queueCollector{
		p: p,
		depth: prometheus.NewDesc("harrier_router_output_queue_depth",
			"Journal records not yet consumed by the output.", []string{"output"}, nil),
		oldest: prometheus.NewDesc("harrier_router_output_oldest_undelivered_age_seconds",
			"Age of the oldest stored alert the output has not finished with (0 when caught up).", []string{"output"}, nil),
		up: prometheus.NewDesc("harrier_router_output_up",
			"1 when the output's last delivery succeeded, 0 while it is retrying.", []string{"output"}, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.oldest
	ch <- c.up
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.p.Health() {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(h.QueueDepth), h.Name)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, h.OldestUndeliveredSeconds, h.Name)
		up := 1.0
		if h.State == StateRetrying {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, h.Name)
	}
}

// observe counts one Deliver call's outcome: alerts sent (with their
// ingest-to-delivery latency) and failed.
func (m *Metrics) observe(name string, pending []item, r result) {
	if ok := len(pending) - len(r.retry) - len(r.dead); ok > 0 {
		m.Sent.WithLabelValues(name).Add(float64(ok))
		lat := m.Latency.WithLabelValues(name)
		failed := make(map[uint64]bool, len(r.retry)+len(r.dead))
		for _, it := range r.retry {
			failed[it.seq] = true
		}
		for _, l := range r.dead {
			failed[l.seq] = true
		}
		for _, it := range pending {
			if !failed[it.seq] {
				lat.Observe(r.at.Sub(it.stored).Seconds())
			}
		}
	}
	if n := len(r.retry) + len(r.dead); n > 0 {
		m.Failed.WithLabelValues(name).Add(float64(n))
	}
}
