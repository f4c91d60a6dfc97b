package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harrier-security/harrier/router/internal/config"
)

// An open console on loopback, a live stream open in it: shutdown must
// end the stream rather than wait out the HTTP server's grace period.
func TestConsoleOpenOnLoopbackAndShutdownEndsStreams(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "router.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf("data_dir: %s\ngrpc: {address: 127.0.0.1:0}\nhttp: {address: 127.0.0.1:0, metrics_address: 127.0.0.1:0}\noutputs: {file: {a: {path: %s/a.jsonl}}}\n", dir, dir)), 0o600)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	base := "http://" + r.HTTPAddr()
	resp, err := hc.Get(base + "/ui/api/me")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"open":true`) {
		t.Fatalf("loopback console without users: %d %s", resp.StatusCode, b)
	}
	stream, err := hc.Get(base + "/ui/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if _, err := bufio.NewReader(stream.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.Shutdown(ctx)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %v with a console stream open", d)
	}
}
