package config

import (
	"strings"
	"testing"
)

func TestRedactedHidesEverySecret(t *testing.T) {
	p := write(t, `
grpc: {ingest_tokens: [sensor-token-aaaaaaaaaaaa], client_tokens_file: /run/secrets/clients}
http: {token: http-token-bbbbbbbbbbbb}
webhook:
  address: https://user:hook-pass@hooks.example/x?token=query-token-ffff&team=soc
  customheaders: {Authorization: Bearer header-secret}
elasticsearch: {hostport: http://es:9200, username: elastic, password: es-pass-cccc, apikey: key-dddd}
kafka: {hostport: "k:9092", topic: t, sasl: plain, username: u, password: kafka-pass-eeee}
slack: {webhookurl: "https://hooks.example/services/T/B/slack-hook-ffff"}
pagerduty: {routingkey: pd-routing-key-gggggggggggggggggg}
splunk: {hostport: "https://s:8088", token: hec-token-hhhh}
otlp: {endpoint: "c:4317", headers: {authorization: "Bearer otlp-iiii"}}
`)
	t.Setenv("HARRIER_ROUTER_OUTPUTS_X", "") // environment is applied too
	out, err := Redacted(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"sensor-token-aaaaaaaaaaaa", "http-token-bbbbbbbbbbbb", "hook-pass", "header-secret",
		"es-pass-cccc", "key-dddd", "kafka-pass-eeee", "query-token-ffff", "slack-hook-ffff", "pd-routing-key-gggg", "hec-token-hhhh", "otlp-iiii"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("config show leaks %q:\n%s", secret, out)
		}
	}
	for _, kept := range []string{"elastic", "/run/secrets/clients", "hooks.example", "REDACTED", "address: 127.0.0.1:2802", "team=soc"} {
		if !strings.Contains(string(out), kept) {
			t.Errorf("config show lacks %q:\n%s", kept, out)
		}
	}
}
