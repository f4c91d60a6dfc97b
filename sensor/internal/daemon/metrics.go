package daemon

import (
	"crypto/tls"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
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
			Name: "harrier_sensor_rules_reloads_total", Help: "Rules reloads by result (ok; failed or refused: the previous rules stayed).",
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
	m.reloads.WithLabelValues("refused")
	reg.MustRegister(m.evaluated, m.alerts, m.reloads, m.rulesEnabled, m.rulesetInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// registerMetrics registers the metrics each component owns; the daemon
// derives none of its own from them.
func (d *Daemon) registerMetrics() {
	reg := d.reg
	reg.MustRegister(d.fan.Collectors()...)
	if d.hook != nil {
		reg.MustRegister(d.hook.Collectors()...)
	}
	if d.sp != nil {
		reg.MustRegister(d.sp.Collector())
	}
	if d.tr != nil {
		reg.MustRegister(d.tr.Collector())
	}
	if d.agg != nil {
		reg.MustRegister(d.agg.Collector())
	}
	if d.sys != nil {
		reg.MustRegister(d.sys.src.Collectors()...)
	}
}

func newTLSListener(ln net.Listener, c *tls.Config) net.Listener { return tls.NewListener(ln, c) }
