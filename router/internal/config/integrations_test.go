package config

import (
	"strings"
	"testing"
	"time"
)

func TestIntegrationBlocks(t *testing.T) {
	p := write(t, `
alertmanager:
  hostport: http://am:9093
  expiresafter: 600
  extralabels: "team:sec,env:prod"
  extraannotations: {runbook: "https://wiki/x"}
  customseveritymap: "warning:minor"
  dropeventdefaultpriority: critical
  minimumpriority: warning
syslog:
  host: 127.0.0.1
  port: 6514
  protocol: tls
  format: text
outputs:
  alertmanager:
    eu: {hostport: "https://am-eu:9093", expiresafter: 1h, labelfields: [k8s.ns.name]}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	am := find(t, c, "alertmanager").Settings.(Alertmanager)
	if am.ExpiresAfter != 10*time.Minute || am.ExtraLabels["env"] != "prod" || am.SeverityMap["warning"] != "minor" ||
		am.ExtraAnnotations["runbook"] != "https://wiki/x" || am.Endpoint != "/api/v2/alerts" {
		t.Fatalf("alertmanager: %+v", am)
	}
	if eu := find(t, c, "alertmanager.eu").Settings.(Alertmanager); eu.ExpiresAfter != time.Hour || eu.LabelFields[0] != "k8s.ns.name" {
		t.Fatalf("alertmanager.eu: %+v", eu)
	}
	if s := find(t, c, "syslog").Settings.(Syslog); s.Port != 6514 || s.Protocol != "tls" || s.Format != "text" || s.Facility != "local0" {
		t.Fatalf("syslog: %+v", s)
	}
}

func TestIntegrationErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"alertmanager: {hostport: am:9093}", "alertmanager.hostport"},
		{"alertmanager: {hostport: http://am, endpoint: /api/v1/alerts}", "alertmanager.endpoint"},
		{"alertmanager: {hostport: http://am, customseveritymap: 'loud:x'}", "alertmanager.customseveritymap"},
		{"syslog: {host: h, protocol: http}", "syslog.protocol"},
		{"syslog: {host: h, format: cef}", "syslog.format"},
		{"syslog: {host: h, port: 70000}", "syslog.port"},
	}
	for _, tt := range tests {
		_, err := Load(write(t, tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to name %s", tt.yaml, err, tt.want)
		}
	}
}
