// Package espeer runs the Elasticsearch test peer (the program in server/,
// ZincSearch behind an Elasticsearch 8 facade) as a separate process on
// 127.0.0.1 for tests and benchmarks, and queries it.
//
// The peer is built once per source version with GOWORK=off (server/ is a
// module of its own so ZincSearch's dependencies never enter the router
// module) and cached under os.TempDir(); a cold build takes about half a
// minute of CPU, a warm start well under a second. ZincSearch makes
// documents searchable about a second after indexing them: poll (Eventually).
package espeer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/harrier-security/harrier/router/internal/testpeers/peerbuild"
)

// Options configure a peer. The zero value is a plain HTTP peer without
// auth.
type Options struct {
	// User and Password require HTTP basic auth.
	User, Password string
	// APIKey accepts "Authorization: ApiKey <APIKey>".
	APIKey string
	// RequireHeader rejects requests without this "Name: value" header.
	RequireHeader string
	// TLSCert and TLSKey serve HTTPS; ClientCA also requires client
	// certificates signed by it.
	TLSCert, TLSKey, ClientCA string
}

// Peer is one running (or stopped) peer process.
type Peer struct {
	// URL is the peer's base URL (http://127.0.0.1:PORT), stable across
	// Stop and Restart.
	URL string
	// Client talks to the peer (with the peer's auth for convenience when
	// Options set it). For HTTPS peers set its Transport.
	Client *http.Client

	bin, dataDir, logPath string
	addr                  string
	opts                  Options

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start builds (once) and starts a peer with a fresh data directory; it is
// stopped when tb ends.
func Start(tb testing.TB, opts Options) *Peer {
	tb.Helper()
	p := &Peer{
		bin:     Binary(tb),
		dataDir: tb.TempDir(),
		opts:    opts,
		addr:    "127.0.0.1:0",
		Client:  &http.Client{Timeout: 30 * time.Second},
	}
	p.logPath = filepath.Join(p.dataDir, "espeer.log")
	p.start(tb)
	tb.Cleanup(p.Stop)
	return p
}

// Addr is the peer's host:port.
func (p *Peer) Addr() string { return p.addr }

// Stop stops the peer gracefully (SIGTERM: ZincSearch flushes its indexes),
// killing it after 10s. The data directory stays for Restart.
func (p *Peer) Stop() {
	p.mu.Lock()
	cmd := p.cmd
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts a stopped peer again on the same address with its data.
func (p *Peer) Restart(tb testing.TB) {
	tb.Helper()
	p.Stop()
	p.start(tb)
}

// Log returns the peer's output so far, for failure messages.
func (p *Peer) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *Peer) start(tb testing.TB) {
	tb.Helper()
	args := []string{"-data", p.dataDir, "-addr", p.addr, "-exit-on-stdin-eof"}
	o := p.opts
	for _, f := range [][2]string{{"-user", o.User}, {"-password", o.Password}, {"-apikey", o.APIKey},
		{"-require-header", o.RequireHeader}, {"-tls-cert", o.TLSCert}, {"-tls-key", o.TLSKey}, {"-client-ca", o.ClientCA}} {
		if f[1] != "" {
			args = append(args, f[0], f[1])
		}
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatalf("espeer: log: %v", err)
	}
	cmd := exec.Command(p.bin, args...)
	// ZincSearch reads its environment in package init, before the peer's
	// main could set it; give it here (the peer re-executes itself with
	// the same settings when started by hand). Keep in sync with zincEnv
	// in server/main.go.
	cmd.Env = append(os.Environ(),
		"HARRIER_ESPEER_CHILD=1",
		"ZINC_DATA_PATH="+p.dataDir,
		"ZINC_TELEMETRY=false",
		"ZINC_SENTRY=false",
		"ZINC_PROFILER=false",
		"ZINC_PROMETHEUS_ENABLE=false",
		"ZINC_SWAGGER_ENABLE=false",
		"ZINC_PLUGIN_ES_VERSION=8.15.0",
		"ZINC_SHARD_NUM=1",
		"ZINC_WAL_SYNC_INTERVAL=100ms",
		"GIN_MODE=release",
	)
	cmd.Dir = p.dataDir
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("espeer: %v", err)
	}
	// Held open for the peer's life: when this process dies, the peer sees
	// EOF and exits instead of lingering on its port.
	if _, err := cmd.StdinPipe(); err != nil {
		tb.Fatalf("espeer: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("espeer: start: %v", err)
	}
	ready := make(chan string, 1)
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if addr, ok := strings.CutPrefix(line, "listening on "); ok {
				select {
				case ready <- addr:
				default:
				}
			}
			fmt.Fprintln(logf, line)
		}
	}()
	select {
	case addr := <-ready:
		p.addr = addr
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		tb.Fatalf("espeer: not ready after 60s; log:\n%s", p.Log())
	}
	scheme := "http"
	if o.TLSCert != "" {
		scheme = "https"
	}
	p.URL = scheme + "://" + p.addr
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
}

// Binary returns the path of the built peer, building it on first use.
// Concurrent test binaries share one build through a lock file.
func Binary(tb testing.TB) string {
	tb.Helper()
	path, err := binary()
	if err != nil {
		tb.Fatalf("espeer: %v", err)
	}
	return path
}

// binary builds the peer on first use.
var binary = sync.OnceValues(build)

func sourceDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the peer's sources")
	}
	return filepath.Join(filepath.Dir(file), "server"), nil
}

func build() (string, error) {
	src, err := sourceDir()
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".go") || n == "go.mod" || n == "go.sum") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return peerbuild.Cached("espeer", "espeer", src, names, func(_, out string) error {
		goTool, err := exec.LookPath("go")
		if err != nil {
			return fmt.Errorf("go tool not found: %w", err)
		}
		cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building the peer in %s: %v\n%s", src, err, log.String())
		}
		return nil
	})
}

// Count returns the number of documents of index matching query (nil:
// all), through the peer's _count API.
func (p *Peer) Count(ctx context.Context, index string, query any) (int64, error) {
	var res struct {
		Count int64 `json:"count"`
	}
	body := map[string]any{}
	if query != nil {
		body["query"] = query
	}
	err := p.do(ctx, http.MethodPost, "/"+index+"/_count", body, &res)
	return res.Count, err
}

// Hit is one search result.
type Hit struct {
	Index  string         `json:"_index"`
	ID     string         `json:"_id"`
	Source map[string]any `json:"_source"`
}

// Search returns up to size documents of index matching query.
func (p *Peer) Search(ctx context.Context, index string, query any, size int) ([]Hit, error) {
	var res struct {
		Hits struct {
			Hits []Hit `json:"hits"`
		} `json:"hits"`
	}
	err := p.do(ctx, http.MethodPost, "/"+index+"/_search", map[string]any{"query": query, "size": size}, &res)
	return res.Hits.Hits, err
}

// Template returns the stored index template named name.
func (p *Peer) Template(ctx context.Context, name string) (map[string]any, error) {
	var res struct {
		IndexTemplates []struct {
			IndexTemplate map[string]any `json:"index_template"`
		} `json:"index_templates"`
	}
	if err := p.do(ctx, http.MethodGet, "/_index_template/"+name, nil, &res); err != nil {
		return nil, err
	}
	if len(res.IndexTemplates) != 1 {
		return nil, fmt.Errorf("template %s: %d results", name, len(res.IndexTemplates))
	}
	return res.IndexTemplates[0].IndexTemplate, nil
}

func (p *Peer) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.opts.User != "" {
		req.SetBasicAuth(p.opts.User, p.opts.Password)
	} else if p.opts.APIKey != "" {
		req.Header.Set("Authorization", "ApiKey "+p.opts.APIKey)
	}
	if name, value, ok := strings.Cut(p.opts.RequireHeader, ":"); ok {
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	res, err := p.Client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, raw)
	}
	return json.Unmarshal(raw, out)
}
