package outputs

import (
	"fmt"
	"testing"
)

// Every issue-18 kind the configuration accepts builds into its
// integration, under the configured name.
func TestBuildEveryIntegration(t *testing.T) {
	c := load(t, `
data_dir: `+t.TempDir()+`
outputs:
  alertmanager: {am: {hostport: "http://127.0.0.1:9093"}}
  syslog: {s: {host: 127.0.0.1, protocol: tcp}}
  slack: {sl: {webhookurl: "https://hooks.slack.example/services/T/B/X"}}
  mattermost: {mm: {webhookurl: "https://mm.example/hooks/x"}}
  teams: {tm: {webhookurl: "https://teams.example/workflows/x"}}
  googlechat: {gc: {webhookurl: "https://chat.example/v1/spaces/x"}}
  loki: {lk: {hostport: "http://127.0.0.1:3100", tenant: a}}
  splunk: {sp: {hostport: "https://127.0.0.1:8088", token: t}}
  otlp: {ot: {endpoint: "127.0.0.1:4317", insecure: true}}
  s3: {b: {bucket: alerts, endpoint: "http://127.0.0.1:9000", pathstyle: true, region: us-east-1}}
  pagerduty: {pd: {routingkey: "0123456789abcdef0123456789abcdef", region: eu}}
`)
	want := map[string]string{
		"alertmanager.am": "*alertmanager.Output", "syslog.s": "*syslog.Output", "slack.sl": "*slack.Output",
		"mattermost.mm": "*slack.Output", "teams.tm": "*slack.Output", "googlechat.gc": "*slack.Output",
		"loki.lk": "*loki.Output", "splunk.sp": "*splunk.Output", "pagerduty.pd": "*pagerduty.Output", "otlp.ot": "*otlp.Output", "s3.b": "*s3.Output",
	}
	specs := Factory{}.Specs(c.Outputs)
	if len(specs) != len(want) {
		t.Fatalf("%d specs, want %d", len(specs), len(want))
	}
	for _, s := range specs {
		out, err := s.Build()
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if typ := fmt.Sprintf("%T", out); typ != want[s.Name] || out.Name() != s.Name {
			t.Errorf("%s built %s named %q", s.Name, typ, out.Name())
		}
		out.Close()
	}
}
