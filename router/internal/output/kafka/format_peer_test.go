package kafka_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/harrier-security/harrier/router/internal/alertformat"
	"github.com/harrier-security/harrier/router/internal/output/kafka"
	"github.com/harrier-security/harrier/router/internal/testpeers/kafkapeer"
)

// format: ecs and ocsf write those documents as the message values (read
// back from a real Kafka protocol peer), headers and keys unchanged.
func TestFormatsOnTheWire(t *testing.T) {
	cl := kafkapeer.Start(t, 1, []string{"ecs", "ocsf"})
	for _, tc := range []struct {
		format string
		check  func(doc map[string]any) bool
	}{
		{alertformat.ECS, func(d map[string]any) bool {
			ev, _ := d["event"].(map[string]any)
			rule, _ := d["rule"].(map[string]any)
			proc, _ := d["process"].(map[string]any)
			return d["@timestamp"] != nil && ev["kind"] == "alert" && rule["name"] == "Terminal shell in container" &&
				proc["name"] == "bash" && proc["pid"] != nil
		}},
		{alertformat.OCSF, func(d map[string]any) bool {
			fi, _ := d["finding_info"].(map[string]any)
			return d["class_uid"] == float64(2004) && d["severity_id"] == float64(2) && fi["title"] == "Terminal shell in container"
		}},
	} {
		in := alerts(tc.format, 5, 2)
		o := newOutput(t, kafka.Config{HostPort: cl.Addr(), Topic: tc.format, Format: tc.format})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := o.Deliver(ctx, in); err != nil {
			cancel()
			t.Fatalf("%s: %v", tc.format, err)
		}
		msgs, err := kafkapeer.ReadAll(ctx, cl.Addr(), tc.format, len(in))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var doc map[string]any
			if err := json.Unmarshal(m.Value, &doc); err != nil || !tc.check(doc) {
				t.Fatalf("%s: value %s (%v)", tc.format, m.Value, err)
			}
			if string(m.Key) == "" || len(m.Headers) < 5 {
				t.Fatalf("%s: key %q headers %v", tc.format, m.Key, m.Headers)
			}
		}
	}
	if _, err := kafka.New(kafka.Config{HostPort: cl.Addr(), Topic: "x", Format: "cef"}); err == nil {
		t.Fatal("format cef accepted")
	}
}
