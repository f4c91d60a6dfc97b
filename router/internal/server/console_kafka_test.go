package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/testpeers/kafkapeer"
)

// Two replicas on one Kafka topic (kfake peer): alerts sent to one are
// searchable in both consoles, including those stored before the second
// replica started (it rebuilds its index from the retained log).
func TestConsoleOnKafkaJournalEveryReplicaSearchesEveryAlert(t *testing.T) {
	kc := kafkapeer.Start(t, 3, nil)
	cfg := fmt.Sprintf(`journal: {backend: kafka, kafka: {brokers: [%q], partitions: 3, replication_factor: 1}}
outputs: {file: {a: {path: DIR/a.jsonl}}}
`, kc.Addr())
	a := start(t, cfg)
	ctx := withToken(context.Background(), sensorToken)
	var before, after []*harrierv1.Alert
	for i := range 6 {
		before = append(before, mkAlert(i, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall"))
	}
	if acks := sendBatches(t, ctx, a.dial(t, true), before); acks[0].GetStatus() != harrierv1.AckStatus_ACK_STATUS_OK {
		t.Fatalf("ack %v", acks[0])
	}
	b := start(t, cfg) // after the first alerts: must find them in the log
	for i := 6; i < 12; i++ {
		after = append(after, mkAlert(i, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall"))
	}
	if acks := sendBatches(t, ctx, a.dial(t, true), after); acks[0].GetStatus() != harrierv1.AckStatus_ACK_STATUS_OK {
		t.Fatalf("ack %v", acks[0])
	}
	want := map[string]bool{}
	for _, al := range append(before, after...) {
		want[al.GetId()] = true
	}
	for name, e := range map[string]*env{"replica a": a, "replica b": b} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, total, err := consoleSearch("http://" + e.r.HTTPAddr())
			if err == nil && total == len(want) && sameKeys(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: console search: %d alerts %v, err %v; want %d", name, total, got, err, len(want))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// consoleSearch signs in (an open console hands a session to whoever asks
// /ui/api/me) and lists the alerts the search API returns.
func consoleSearch(base string) (map[string]bool, int, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	me, err := hc.Get(base + "/ui/api/me")
	if err != nil {
		return nil, 0, err
	}
	me.Body.Close()
	resp, err := hc.Get(base + "/ui/api/search?limit=100")
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	var res struct {
		Total  int `json:"total"`
		Alerts []struct {
			Alert struct {
				UUID string `json:"uuid"`
			} `json:"alert"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, 0, err
	}
	got := map[string]bool{}
	for _, h := range res.Alerts {
		got[h.Alert.UUID] = true
	}
	return got, res.Total, nil
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
