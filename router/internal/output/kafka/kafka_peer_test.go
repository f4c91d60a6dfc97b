package kafka_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/kafka"
	"github.com/harrier-security/harrier/router/internal/testkit/require"
	"github.com/harrier-security/harrier/router/internal/testpeers/kafkapeer"
)

// alerts returns n distinct alerts spread over hosts host-0..host-(hosts-1).
func alerts(prefix string, n, hosts int) []*harrierv1.Alert {
	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	out := make([]*harrierv1.Alert, n)
	for i := range out {
		out[i] = &harrierv1.Alert{
			Id:       fmt.Sprintf("%s-%05d", prefix, i),
			Time:     timestamppb.New(base.Add(time.Duration(i) * time.Millisecond)),
			Rule:     "Terminal shell in container",
			Priority: harrierv1.Priority_PRIORITY_NOTICE,
			Source:   "syscall",
			Output:   fmt.Sprintf("A shell was spawned (proc.name=bash n=%d)", i),
			OutputFields: map[string]*harrierv1.FieldValue{
				"proc.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "bash"}},
				"proc.pid":  {Kind: &harrierv1.FieldValue_IntValue{IntValue: int64(1000 + i)}},
			},
			Tags:     []string{"container", "shell"},
			Hostname: fmt.Sprintf("host-%d", i%hosts),
			SensorId: "sensor-a",
		}
	}
	return out
}

func newOutput(t testing.TB, cfg kafka.Config) *kafka.Output {
	t.Helper()
	o, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func TestDeliverKeysHeadersValues(t *testing.T) {
	cl := kafkapeer.Start(t, 3, []string{"falco"})
	o := newOutput(t, kafka.Config{HostPort: cl.Addr(), Topic: "falco"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := alerts("kv", 60, 4)
	if err := o.Deliver(ctx, in[:25]); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if err := o.Deliver(ctx, in[25:]); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	msgs, err := kafkapeer.ReadAll(ctx, cl.Addr(), "falco", len(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(in) {
		t.Fatalf("topic holds %d messages, want %d", len(msgs), len(in))
	}
	byID := map[string]*harrierv1.Alert{}
	for _, a := range in {
		byID[a.Id] = a
	}
	partitionOf := map[string]int{} // hostname → partition: one host stays on one partition
	for _, m := range msgs {
		got, err := falcojson.Unmarshal(m.Value)
		if err != nil {
			t.Fatalf("value is not Falco JSON: %v: %s", err, m.Value)
		}
		want := byID[got.Id]
		if want == nil {
			t.Fatalf("unexpected alert %q", got.Id)
		}
		delete(byID, got.Id)
		if !proto.Equal(got, want) {
			t.Errorf("alert %s round trip:\n got %v\nwant %v", got.Id, got, want)
		}
		if string(m.Key) != want.Hostname {
			t.Errorf("alert %s key %q, want hostname %q", got.Id, m.Key, want.Hostname)
		}
		h := map[string]string{}
		for _, hd := range m.Headers {
			h[hd.Key] = string(hd.Value)
		}
		wantH := map[string]string{"rule": want.Rule, "priority": "Notice", "source": "syscall", "uuid": want.Id, "hostname": want.Hostname}
		for k, v := range wantH {
			if h[k] != v {
				t.Errorf("alert %s header %s = %q, want %q", got.Id, k, h[k], v)
			}
		}
		if p, ok := partitionOf[want.Hostname]; ok && p != m.Partition {
			t.Errorf("host %s on partitions %d and %d: the key must pin a host to one partition", want.Hostname, p, m.Partition)
		}
		partitionOf[want.Hostname] = m.Partition
	}
	if len(byID) != 0 {
		t.Errorf("%d alerts missing", len(byID))
	}
}

func TestCompressionCodecs(t *testing.T) {
	topics := []string{"c-gzip", "c-snappy", "c-lz4", "c-zstd", "c-none"}
	cl := kafkapeer.Start(t, 1, topics)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, topic := range topics {
		codec := strings.TrimPrefix(topic, "c-")
		o := newOutput(t, kafka.Config{HostPort: cl.Addr(), Topic: topic, Compression: codec, Key: "rule"})
		in := alerts(codec, 20, 2)
		if err := o.Deliver(ctx, in); err != nil {
			t.Fatalf("%s: Deliver: %v", codec, err)
		}
		msgs, err := kafkapeer.ReadAll(ctx, cl.Addr(), topic, len(in))
		if err != nil {
			t.Fatalf("%s: %v", codec, err)
		}
		if string(msgs[0].Key) != in[0].Rule || !bytes.Contains(msgs[0].Value, []byte(`"uuid":"`+in[0].Id+`"`)) {
			t.Errorf("%s: first message key %q value %s", codec, msgs[0].Key, msgs[0].Value)
		}
	}
}

// TestKcatReadsTopic checks the messages with an independent client
// (librdkafka's kcat, a Debian package).
func TestKcatReadsTopic(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		require.Missing(t, "kcat is not installed (apt-get install kcat; scripts/setup.sh does)")
	}
	cl := kafkapeer.Start(t, 2, []string{"falco-kcat"})
	o := newOutput(t, kafka.Config{HostPort: cl.Addr(), Topic: "falco-kcat", Compression: "lz4"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := alerts("kcat", 30, 3)
	if err := o.Deliver(ctx, in); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	cmd := exec.CommandContext(ctx, kcat, "-b", cl.Addr(), "-C", "-t", "falco-kcat", "-o", "beginning", "-e", "-J", "-q")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.String())
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m struct {
			Key     string   `json:"key"`
			Payload string   `json:"payload"`
			Headers []string `json:"headers"` // name, value, name, value...
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("kcat line %q: %v", sc.Text(), err)
		}
		a, err := falcojson.Unmarshal([]byte(m.Payload))
		if err != nil {
			t.Fatalf("kcat payload: %v", err)
		}
		if m.Key != a.Hostname {
			t.Errorf("kcat key %q, want %q", m.Key, a.Hostname)
		}
		h := map[string]string{}
		for i := 0; i+1 < len(m.Headers); i += 2 {
			h[m.Headers[i]] = m.Headers[i+1]
		}
		if h["uuid"] != a.Id || h["rule"] != a.Rule || h["priority"] != "Notice" || h["source"] != "syscall" {
			t.Errorf("kcat headers %v for alert %s", h, a.Id)
		}
		seen[a.Id] = true
	}
	if len(seen) != len(in) {
		t.Fatalf("kcat read %d distinct alerts, want %d:\n%s", len(seen), len(in), out)
	}
}

// TestOutageAndRecovery closes the cluster mid-stream: Deliver fails
// transiently (never Permanent, never hanging), and after a restart on the
// same port redelivery gets every alert into the topic.
func TestOutageAndRecovery(t *testing.T) {
	cl := kafkapeer.Start(t, 2, []string{"falco"})
	o := newOutput(t, kafka.Config{HostPort: cl.Addr(), Topic: "falco", Timeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in := alerts("outage", 300, 5)
	var pending [][]*harrierv1.Alert
	for i := 0; i < len(in); i += 20 {
		batch := in[i : i+20]
		if i == 100 {
			cl.Stop()
		}
		if i == 200 {
			cl.Restart(t)
		}
		start := time.Now()
		err := o.Deliver(ctx, batch)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("Deliver took %v during the outage", took)
		}
		if err != nil {
			if output.IsPermanent(err) {
				t.Fatalf("outage error is permanent: %v", err)
			}
			var pe *output.PartialError
			if errors.As(err, &pe) {
				for _, it := range pe.Items {
					if output.IsPermanent(it.Err) {
						t.Fatalf("outage item error is permanent: %v", it.Err)
					}
				}
			}
			pending = append(pending, batch)
			continue
		}
		if i >= 100 && i < 200 {
			t.Errorf("batch %d delivered while the cluster was down", i/20)
		}
	}
	if len(pending) < 5 {
		t.Errorf("only %d batches failed during the outage, want the 5 sent while it was down", len(pending))
	}
	// The pipeline's retry, after the cluster is back.
	for _, b := range pending {
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := o.Deliver(ctx, b)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redelivery after restart still fails: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	msgs, err := kafkapeer.ReadAll(ctx, cl.Addr(), "falco", len(in))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range msgs {
		for _, h := range m.Headers {
			if h.Key == "uuid" {
				got[string(h.Value)] = true
			}
		}
	}
	for _, a := range in {
		if !got[a.Id] {
			t.Errorf("alert %s missing after recovery", a.Id)
		}
	}
}

func TestOversizedAlertIsPermanentPerItem(t *testing.T) {
	cl := kafkapeer.Start(t, 1, []string{"falco"})
	o := newOutput(t, kafka.Config{HostPort: cl.Addr(), Topic: "falco", BatchBytes: 4096})
	in := alerts("big", 5, 1)
	in[2].Output = strings.Repeat("x", 8192)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := o.Deliver(ctx, in)
	var pe *output.PartialError
	if !errors.As(err, &pe) || len(pe.Items) != 1 || pe.Items[0].Index != 2 || !output.IsPermanent(pe.Items[0].Err) {
		t.Fatalf("Deliver = %v, want a PartialError with item 2 permanent", err)
	}
	msgs, err := kafkapeer.ReadAll(ctx, cl.Addr(), "falco", 4)
	if err != nil || len(msgs) != 4 {
		t.Fatalf("topic holds %d messages (%v), want the 4 others", len(msgs), err)
	}
}

func TestSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			cl := kafkapeer.Start(t, 1, []string{"falco"}, kfake.EnableSASL(), kfake.Superuser(mech, "harrier", "s3cret"))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			good := newOutput(t, kafka.Config{HostPort: cl.Addr(), Topic: "falco", SASL: kafka.SASL{Mechanism: mech, Username: "harrier", Password: "s3cret"}})
			if err := good.Deliver(ctx, alerts("sasl", 3, 1)); err != nil {
				t.Fatalf("Deliver with the right password: %v", err)
			}
			bad := newOutput(t, kafka.Config{HostPort: cl.Addr(), Topic: "falco", Timeout: 2 * time.Second, SASL: kafka.SASL{Mechanism: mech, Username: "harrier", Password: "wrong"}})
			err := bad.Deliver(ctx, alerts("sasl-bad", 1, 1))
			if err == nil {
				t.Fatal("Deliver with a wrong password succeeded")
			}
			if output.IsPermanent(err) {
				t.Errorf("auth failure is permanent (fixable by an operator; must be retried): %v", err)
			}
			if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

// TestBrokerSizeLimit: the broker's max.message.bytes is smaller than the
// writer's batches. Batches of small alerts are refused as a whole; the
// output must still deliver each small alert and fail only the alert that
// is too large on its own, permanently.
func TestBrokerSizeLimit(t *testing.T) {
	cl := kafkapeer.Start(t, 1, []string{"falco"}, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "4000"}))
	o := newOutput(t, kafka.Config{HostPort: cl.Addr(), Topic: "falco"})
	in := alerts("limit", 30, 1) // ~600 bytes each: 30 of them overflow 4000
	in[7].Output = strings.Repeat("y", 6000)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := o.Deliver(ctx, in)
	var pe *output.PartialError
	if !errors.As(err, &pe) || len(pe.Items) != 1 || pe.Items[0].Index != 7 || !output.IsPermanent(pe.Items[0].Err) {
		t.Fatalf("Deliver = %v, want a PartialError with only item 7, permanent", err)
	}
	msgs, err := kafkapeer.ReadAll(ctx, cl.Addr(), "falco", 29)
	if err != nil || len(msgs) != 29 {
		t.Fatalf("topic holds %d messages (%v), want the 29 small alerts", len(msgs), err)
	}
}

// TestLeaderChange moves the partition to another broker: Deliver may fail
// transiently until the output learns the new leader, then succeeds within
// seconds (the metadata refresh period), as the pipeline's retries need.
func TestLeaderChange(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(1, "falco"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := newOutput(t, kafka.Config{HostPort: strings.Join(c.ListenAddrs(), ","), Topic: "falco", Timeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := o.Deliver(ctx, alerts("before", 10, 2)); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	leader := c.LeaderFor("falco", 0)
	next := (leader + 1) % 3
	if err := c.MoveTopicPartition("falco", 0, next); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	batch := alerts("after", 10, 2)
	for {
		err := o.Deliver(ctx, batch)
		if err == nil {
			break
		}
		if output.IsPermanent(err) {
			t.Fatalf("leader change error is permanent: %v", err)
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("still failing %v after the leader change: %v", time.Since(start), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("delivered %v after the leader change", time.Since(start).Round(time.Millisecond))
	msgs, err := kafkapeer.ReadAll(ctx, c.ListenAddrs()[next], "falco", 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) < 20 {
		t.Fatalf("%d messages, want 20", len(msgs))
	}
}
