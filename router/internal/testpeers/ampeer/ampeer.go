// Package ampeer runs a real Prometheus Alertmanager (the version pinned in
// server/go.mod) on 127.0.0.1 for the alertmanager output's tests, and
// reads its alerts back through its API.
//
// Alertmanager's main package embeds its web UI's built assets, which its
// Go module zip lacks; the build copies the module to a temporary directory,
// replaces the UI package with server/uistub (the API is all the tests use)
// and builds cmd/alertmanager with GOWORK=off. The binary is cached under
// os.TempDir() per source version; a cold build costs about a minute and a
// half of CPU (it shares the module cache), a warm start under a second.
package ampeer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harrier-security/harrier/router/internal/testpeers/peerbuild"
	"github.com/harrier-security/harrier/router/internal/testpeers/peerproc"
)

// Peer is one running Alertmanager.
type Peer struct {
	// URL is the base URL (http://127.0.0.1:PORT).
	URL     string
	dir     string
	logPath string
}

// minimal routes every alert to a receiver that notifies nobody: the tests
// read alerts from the API, and no traffic may leave the machine.
const minimal = "route:\n  receiver: none\nreceivers:\n  - name: none\n"

// Start builds (once) and starts Alertmanager; it stops when tb ends.
func Start(tb testing.TB) *Peer {
	tb.Helper()
	bin, err := binary()
	if err != nil {
		tb.Fatalf("ampeer: %v", err)
	}
	p := &Peer{dir: tb.TempDir()}
	p.logPath = filepath.Join(p.dir, "alertmanager.log")
	cfg := filepath.Join(p.dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(minimal), 0o600); err != nil {
		tb.Fatal(err)
	}
	addr, err := freeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.path="+filepath.Join(p.dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no gossip: a lone peer
		"--log.level=warn",
	)
	done := peerproc.Start(tb, "ampeer", cmd, p.logPath, 10*time.Second)
	p.URL = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(p.URL + "/-/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-done:
			tb.Fatalf("ampeer: exited; log:\n%s", p.Log())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("ampeer: not ready after 30s; log:\n%s", p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log is the peer's output so far.
func (p *Peer) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// Alert is an alert as the API returns it (GET /api/v2/alerts).
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	Fingerprint  string            `json:"fingerprint"`
	GeneratorURL string            `json:"generatorURL"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

// Alerts returns the stored alerts matching the label matchers (e.g.
// `alertname="Terminal shell"`), active or not.
func (p *Peer) Alerts(ctx context.Context, matchers ...string) ([]Alert, error) {
	q := url.Values{}
	for _, m := range matchers {
		q.Add("filter", m)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v2/alerts?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET alerts: %s: %s", res.Status, raw)
	}
	var out []Alert
	return out, json.Unmarshal(raw, &out)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// binary builds the peer on first use.
var binary = sync.OnceValues(build)

func build() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the peer's sources")
	}
	server := filepath.Join(filepath.Dir(file), "server")
	return peerbuild.Cached("ampeer", "alertmanager", server, []string{"go.mod", "go.sum", "uistub/web.go"}, func(dir, out string) error {
		goTool, err := exec.LookPath("go")
		if err != nil {
			return fmt.Errorf("go tool not found: %w", err)
		}
		env := append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
		run := func(dir string, args ...string) ([]byte, error) {
			cmd := exec.Command(goTool, args...)
			cmd.Dir, cmd.Env = dir, env
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				return nil, fmt.Errorf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, errb.String())
			}
			return out.Bytes(), nil
		}
		// The version pinned by server/go.mod (its tool directive).
		mout, err := run(server, "mod", "download", "-json", "github.com/prometheus/alertmanager")
		if err != nil {
			return err
		}
		var mod struct{ Dir string }
		if err := json.Unmarshal(mout, &mod); err != nil || mod.Dir == "" {
			return fmt.Errorf("go mod download: no module directory in %s", mout)
		}
		src := filepath.Join(dir, "src")
		_ = os.RemoveAll(src)
		if err := copyTree(mod.Dir, src); err != nil {
			return err
		}
		stub, err := os.ReadFile(filepath.Join(server, "uistub", "web.go"))
		if err != nil {
			return err
		}
		uiDir := filepath.Join(src, "ui")
		if err := os.RemoveAll(uiDir); err != nil {
			return err
		}
		if err := os.MkdirAll(uiDir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(uiDir, "web.go"), stub, 0o644); err != nil {
			return err
		}
		if _, err := run(src, "build", "-trimpath", "-o", out, "./cmd/alertmanager"); err != nil {
			return err
		}
		_ = os.RemoveAll(src)
		return nil
	})
}

// copyTree copies the module writable, without its tests and its UI (the
// UI is replaced; other packages embed templates, so all else is kept).
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			if rel == "ui" {
				return fs.SkipDir
			}
			return os.MkdirAll(dst, 0o755)
		}
		if strings.HasSuffix(d.Name(), "_test.go") || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
