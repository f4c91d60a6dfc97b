package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
	"github.com/harrier-security/harrier/router/internal/testkit/sensorstream"
	"github.com/harrier-security/harrier/router/internal/testkit/webhookrecv"
	"github.com/harrier-security/harrier/router/internal/testpeers/espeer"
	"github.com/harrier-security/harrier/router/internal/testpeers/kafkapeer"
)

// During a steady stream, Kafka and then Elasticsearch are taken away and
// restored: every acknowledged alert reaches both (Elasticsearch exactly
// once per alert), and the webhook keeps up throughout.
func TestKafkaAndElasticsearchOutagesLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Kafka and Elasticsearch peers")
	}
	dir := t.TempDir()
	kc := kafkapeer.Start(t, 4, []string{"falco"})
	es := espeer.Start(t, espeer.Options{})
	hook := webhookrecv.New(t)
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	writeConfig(t, cfg, dir+"/data", grpcAddr, httpAddr, fmt.Sprintf(`
delivery: {backoff: {initial: 50ms, max: 500ms}}
outputs:
  webhook:
    steady: {address: %s, format: ndjson}
elasticsearch:
  hostport: http://%s
  index: falco
  suffix: daily
  timeout: 2s
kafka:
  hostport: %s
  topic: falco
  timeout: 2s
`, hook.URL, es.Addr(), kc.Addr()))
	startRouter(t, cfg, grpcAddr, httpAddr)

	s := &sensorstream.Sensor{Addr: grpcAddr, Prefix: "x"}
	stopSensor := s.Start(t, 20, 10*time.Millisecond)
	poll.Until(t, 10*time.Second, "traffic", func() bool { return hook.Unique() > 200 })

	outage := func(name string, stop, restart func()) {
		stop()
		from := len(s.Acked())
		time.Sleep(2 * time.Second)
		during := s.Acked()[from:]
		if len(during) == 0 {
			t.Fatalf("%s outage: ingest stopped", name)
		}
		poll.Until(t, 3*time.Second, "webhook current during the "+name+" outage", func() bool { return hook.Missing(during) == 0 })
		restart()
	}
	outage("Kafka", kc.Stop, func() { kc.Restart(t) })
	time.Sleep(time.Second)
	outage("Elasticsearch", es.Stop, func() { es.Restart(t) })
	time.Sleep(time.Second)
	stopSensor()
	acked := s.Acked()

	// Read the topic back with kcat, an independent Kafka client (under the
	// race detector, kafka-go's reader stalls on the in-process peer's
	// fetch after a broker restart).
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat (Debian package kcat, installed by scripts/setup.sh):", err)
	}
	poll.Until(t, 60*time.Second, "every acknowledged alert in Kafka", func() bool {
		rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer rcancel()
		out, err := exec.CommandContext(rctx, kcat, "-C", "-b", kc.Addr(), "-t", "falco", "-o", "beginning", "-e", "-q", "-f", "%s\\n").Output()
		if err != nil {
			t.Logf("kcat: %v", err)
			return false
		}
		seen := map[string]bool{}
		for _, line := range bytes.Split(out, []byte("\n")) {
			if a, err := falcojson.Unmarshal(line); err == nil {
				seen[a.GetId()] = true
			}
		}
		missing := 0
		for _, id := range acked {
			if !seen[id] {
				missing++
			}
		}
		if missing > 0 {
			t.Logf("Kafka lacks %d of %d acknowledged alerts so far", missing, len(acked))
		}
		return missing == 0
	})
	// The router may also have stored the last batch the sensor sent before
	// it stopped without seeing its ack; the webhook has every stored alert
	// once (it counts distinct ids), so Elasticsearch must match it.
	poll.Until(t, 30*time.Second, "the webhook to have every acknowledged alert", func() bool { return hook.Missing(acked) == 0 })
	time.Sleep(time.Second)
	stored := hook.Unique()
	if stored < len(acked) || stored > len(acked)+20 {
		t.Fatalf("webhook has %d distinct alerts for %d acknowledged (at most one unacknowledged batch of 20 may be extra)", stored, len(acked))
	}
	index := "falco-" + time.Now().UTC().Format("2006.01.02")
	var n int64
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		n, err = es.Count(cctx, index, nil)
		ccancel()
		if err == nil && n == int64(stored) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Elasticsearch has %d documents in %s (err %v), want one per stored alert: %d (%d acknowledged)\npeer log:\n%s",
				n, index, err, stored, len(acked), tail(es.Log(), 3000))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("%d alerts through a Kafka and an Elasticsearch outage: all in Kafka, %d documents in %s, all at the webhook", len(acked), n, index)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
