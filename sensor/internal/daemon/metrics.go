package daemon

import (
	"crypto/tls"
	"net"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

type metrics struct {
	// alertMisses counts syscall alerts built before their container's
	// metadata was known.
	alertMisses atomic.Uint64

	evaluated                        *prometheus.CounterVec
	evaluatedAudit, evaluatedSyscall prometheus.Counter
	alerts                           *prometheus.CounterVec
	reloads                          *prometheus.CounterVec
	rulesEnabled                     prometheus.Gauge
	rulesetInfo                      *prometheus.GaugeVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		evaluated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harrier_sensor_events_evaluated_total", Help: "Events evaluated by the rules engine, by source.",
		}, []string{"source"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harrier_sensor_alerts_total", Help: "Alerts raised, by rule and priority.",
		}, []string{"rule", "priority"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harrier_sensor_rules_reloads_total", Help: "Rules reloads by result (ok, failed: the previous rules stayed).",
		}, []string{"result"}),
		rulesEnabled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "harrier_sensor_rules_enabled", Help: "Rules enabled in the ruleset in use.",
		}),
		rulesetInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "harrier_sensor_ruleset_info", Help: "1 for the version (content hash) of the ruleset in use.",
		}, []string{"version"}),
	}
	m.evaluatedAudit = m.evaluated.WithLabelValues("k8s_audit")
	m.evaluatedSyscall = m.evaluated.WithLabelValues("syscall")
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("failed")
	reg.MustRegister(m.evaluated, m.alerts, m.reloads, m.rulesEnabled, m.rulesetInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// funcCollector reads a metric family from the daemon's parts at scrape
// time, so their hot paths keep plain counters.
type funcCollector struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	fn   func(emit func(v float64, labels ...string))
}

func newFunc(name, help string, typ prometheus.ValueType, labels []string, fn func(emit func(v float64, labels ...string))) funcCollector {
	return funcCollector{desc: prometheus.NewDesc(name, help, labels, nil), typ: typ, fn: fn}
}

func (c funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c funcCollector) Collect(ch chan<- prometheus.Metric) {
	c.fn(func(v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.desc, c.typ, v, labels...)
	})
}

func (d *Daemon) registerMetrics() {
	reg := d.reg
	reg.MustRegister(d.fan.Collectors()...)
	if d.hook != nil {
		reg.MustRegister(d.hook.Collectors()...)
	}
	if sp := d.sp; sp != nil {
		reg.MustRegister(
			newFunc("harrier_sensor_spool_alerts", "Alerts in the spool, not yet acknowledged by the router.", prometheus.GaugeValue, nil,
				func(emit func(float64, ...string)) { emit(float64(sp.Len())) }),
			newFunc("harrier_sensor_spool_bytes", "Disk used by the spool's segment files.", prometheus.GaugeValue, nil,
				func(emit func(float64, ...string)) { emit(float64(sp.Stats().DiskBytes)) }),
			newFunc("harrier_sensor_spool_dropped_total", "Alerts dropped because the spool was full, by priority.", prometheus.CounterValue, []string{"priority"},
				func(emit func(float64, ...string)) {
					st := sp.Stats()
					for p := harrierv1.Priority_PRIORITY_EMERGENCY; p <= harrierv1.Priority_PRIORITY_DEBUG; p++ {
						emit(float64(st.Dropped[p]), p.FalcoName())
					}
				}),
			newFunc("harrier_sensor_spool_corrupt_records_total", "Spool records skipped for a bad checksum.", prometheus.CounterValue, nil,
				func(emit func(float64, ...string)) { emit(float64(sp.Stats().Corrupt)) }),
		)
	}
	if tr := d.tr; tr != nil {
		reg.MustRegister(
			newFunc("harrier_sensor_router_connected", "1 when the stream to the router is up.", prometheus.GaugeValue, nil,
				func(emit func(float64, ...string)) {
					v := 0.0
					if tr.Connected() {
						v = 1
					}
					emit(v)
				}),
			newFunc("harrier_sensor_router_streams_total", "Streams to the router, by result (opened, failed).", prometheus.CounterValue, []string{"result"},
				func(emit func(float64, ...string)) {
					st := tr.Stats()
					emit(float64(st.Connects), "opened")
					emit(float64(st.Failures), "failed")
				}),
			newFunc("harrier_sensor_router_batches_total", "Alert batches by outcome (sent, ok, retry, rejected).", prometheus.CounterValue, []string{"status"},
				func(emit func(float64, ...string)) {
					st := tr.Stats()
					emit(float64(st.BatchesSent), "sent")
					emit(float64(st.BatchesAcked), "ok")
					emit(float64(st.BatchesRetry), "retry")
					emit(float64(st.BatchesReject), "rejected")
				}),
			newFunc("harrier_sensor_router_alerts_acked_total", "Alerts acknowledged by the router.", prometheus.CounterValue, nil,
				func(emit func(float64, ...string)) { emit(float64(tr.Stats().AlertsAcked)) }),
		)
	}
	if d.agg != nil {
		agg := d.agg
		reg.MustRegister(newFunc("harrier_sensor_aggregation_held_alerts", "Repeated alerts held in open aggregation windows.", prometheus.GaugeValue, nil,
			func(emit func(float64, ...string)) { emit(float64(agg.Held())) }))
	}
	if d.sys != nil {
		reg.MustRegister(d.sys.collectors()...)
	}
}

func newTLSListener(ln net.Listener, c *tls.Config) net.Listener { return tls.NewListener(ln, c) }
