package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
	"github.com/harrier-security/harrier/router/internal/testkit/syncbuf"
	"github.com/harrier-security/harrier/router/internal/testkit/webhookrecv"
)

func postFalco(t *testing.T, httpAddr, rule, priority string) {
	t.Helper()
	body := fmt.Sprintf(`{"output":"%s happened","priority":%q,"rule":%q,"time":"2026-11-24T10:00:00.000000000Z","source":"syscall","hostname":"h1","output_fields":{}}`,
		rule, priority, rule)
	resp, err := http.Post("http://"+httpAddr+"/", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d", rule, resp.StatusCode)
	}
}

func TestHarrierctlSubscribeFiltersAndDeadLetters(t *testing.T) {
	dir := t.TempDir()
	refusing := webhookrecv.New(t)
	refusing.SetStatus(422) // permanent: every alert becomes a dead letter
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	writeConfig(t, cfg, dir+"/data", grpcAddr, httpAddr, fmt.Sprintf("outputs: {webhook: {strict: {address: %s, minimumpriority: critical}}}\n", refusing.URL))
	startRouter(t, cfg, grpcAddr, httpAddr)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := exec.CommandContext(ctx, ctlBinary, "subscribe", "--router", grpcAddr, "--min-priority", "critical", "-o", "json")
	stdout, _ := sub.StdoutPipe()
	var stderr syncbuf.Buffer
	sub.Stderr = &stderr
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// Post once the router counts the subscriber (instead of a fixed sleep).
	poll.Until(t, 10*time.Second, "the subscription registered", func() bool {
		resp, err := http.Get("http://" + metricsFor(t, httpAddr) + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "\nharrier_router_subscribers 1\n")
	})
	postFalco(t, httpAddr, "quiet rule", "Notice")
	postFalco(t, httpAddr, "loud rule", "Critical")
	select {
	case l := <-lines:
		a, err := falcojson.Unmarshal([]byte(l))
		if err != nil || a.GetRule() != "loud rule" {
			t.Fatalf("subscriber printed %q (%v)", l, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no alert from harrierctl subscribe; stderr: %s", stderr.String())
	}
	select {
	case l := <-lines:
		t.Fatalf("unexpected second line %q: the Notice alert passed --min-priority critical", l)
	case <-time.After(300 * time.Millisecond):
	}

	// The critical alert was refused by the webhook: it is a dead letter.
	var out []byte
	poll.Until(t, 10*time.Second, "a dead letter listed", func() bool {
		var err error
		out, err = exec.Command(ctlBinary, "deadletters", "list", "--router", grpcAddr).CombinedOutput()
		return err == nil && strings.Contains(string(out), "webhook.strict") && strings.Contains(string(out), "HTTP 422")
	})
	refusing.SetStatus(0)
	out, err := exec.Command(ctlBinary, "deadletters", "replay", "--router", grpcAddr, "--output", "webhook.strict").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "replayed 1, failed again 0") {
		t.Fatalf("replay: %v: %s", err, out)
	}
	if refusing.Unique() != 1 {
		t.Fatalf("webhook has %d alerts after replay", refusing.Unique())
	}
}
