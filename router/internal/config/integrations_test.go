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
		{"syslog: {host: h, protocol: http}", `syslog.protocol: "http": want udp, tcp or tls`},
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

func TestChatAndIncidentBlocks(t *testing.T) {
	c, err := Load(write(t, `
slack: {webhookurl: "https://hooks.slack.example/services/T/B/X", channel: "#sec", outputformat: text, icon: ":shield:"}
teams: {webhookurl: "https://teams.example/x", activityimage: "https://img"}
loki: {hostport: "http://loki:3100", tenant: t1, user: "42", apikey: k, extralabels: "k8s.ns.name,container.name"}
splunk: {hostport: "https://splunk:8088", token: abc, index: sec}
pagerduty: {routingkey: "0123456789abcdef0123456789abcdef"}
otlp: {endpoint: "collector:4317", insecure: true, headers: {authorization: "Bearer x"}}
s3: {bucket: alerts, endpoint: "http://minio:9000", pathstyle: true, accesskeyid: a, secretaccesskey: s}
`))
	if err != nil {
		t.Fatal(err)
	}
	if s := find(t, c, "slack").Settings.(Chat); s.Flavour != "slack" || s.Channel != "#sec" || s.Format != "text" || s.Icon != ":shield:" {
		t.Fatalf("slack %+v", s)
	}
	if s := find(t, c, "teams").Settings.(Chat); s.Flavour != "teams" || s.Format != "all" {
		t.Fatalf("teams %+v", s)
	}
	if l := find(t, c, "loki").Settings.(Loki); l.Tenant != "t1" || len(l.LabelFields) != 2 || l.Endpoint != "/loki/api/v1/push" {
		t.Fatalf("loki %+v", l)
	}
	if s := find(t, c, "splunk").Settings.(Splunk); s.Token != "abc" || s.SourceType != "falco" {
		t.Fatalf("splunk %+v", s)
	}
	if p := find(t, c, "pagerduty").Settings.(PagerDuty); p.Region != "us" {
		t.Fatalf("pagerduty %+v", p)
	}
	if o := find(t, c, "otlp").Settings.(OTLP); o.Protocol != "grpc" || !o.Insecure || o.Headers["authorization"] != "Bearer x" {
		t.Fatalf("otlp %+v", o)
	}
	if s := find(t, c, "s3").Settings.(S3); !s.Gzip || !s.PathStyle || s.Prefix != "falco" || s.SecretAccessKey != "s" {
		t.Fatalf("s3 %+v", s)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"s3: {bucket: b, compression: zstd}", `s3.compression: "zstd": want gzip or none`},
		{"s3: {bucket: b, accesskeyid: a}", "s3.accesskeyid"},
		{"otlp: {endpoint: 'http://c:4317'}", "otlp.endpoint"},
		{"otlp: {endpoint: 'c:4318', protocol: http/protobuf}", "otlp.endpoint"},
		{"otlp: {endpoint: 'c:4318', protocol: http/json}", "otlp.protocol"},
		{"slack: {webhookurl: hooks.slack.com}", "slack.webhookurl"},
		{"slack: {webhookurl: 'https://x', outputformat: html}", `slack.outputformat: "html": want all, text or fields`},
		{"loki: {hostport: 'http://l', apikey: k}", "loki.apikey"},
		{"splunk: {hostport: 'https://s'}", "splunk.token"},
		{"pagerduty: {routingkey: short}", "pagerduty.routingkey"},
		{"pagerduty: {routingkey: '0123456789abcdef0123456789abcdef', region: ap}", `pagerduty.region: "ap": want us or eu`},
		{"loki: {hostport: 'http://l', format: xml}", `loki.format: "xml": want json or text`},
	} {
		if _, err := Load(write(t, bad.yaml)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err = %v, want it to name %s", bad.yaml, err, bad.want)
		}
	}
}

func TestIntegrationFromEnvironment(t *testing.T) {
	t.Setenv("HARRIER_ROUTER_SLACK_WEBHOOKURL", "https://hooks.example/services/T/B/X")
	t.Setenv("HARRIER_ROUTER_SLACK_MINIMUMPRIORITY", "error")
	c, err := Load(write(t, "data_dir: "+t.TempDir()+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := find(t, c, "slack").Settings.(Chat); s.WebhookURL != "https://hooks.example/services/T/B/X" {
		t.Fatalf("slack %+v", s)
	}
}
