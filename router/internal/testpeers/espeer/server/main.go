// Command espeer is the Elasticsearch test peer: ZincSearch's storage and
// search engine behind the subset of the Elasticsearch 8 REST API that the
// router's Elasticsearch output and its tests use. It exists so tests run
// against a real search engine over real HTTP without a JVM.
//
// What it adds to ZincSearch's /es API: the product header and info
// document the go-elasticsearch v8 client checks, gzip request bodies, a
// stored (not applied) index template API, _count, ES-style errors, basic
// auth / API key / required header checks, and TLS with optional client
// certificates. It listens on loopback only and prints "listening on ADDR"
// when ready.
//
// It is a separate module (ZincSearch's dependencies must never enter the
// router module); tests build it with GOWORK=off.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Environment ZincSearch reads in its package init, before main runs: the
// data directory and no telemetry, error reporting or profiling (no
// traffic may leave the machine). main re-executes itself with these set.
func zincEnv(dataDir string) []string {
	return []string{
		"ZINC_DATA_PATH=" + dataDir,
		"ZINC_TELEMETRY=false",
		"ZINC_SENTRY=false",
		"ZINC_PROFILER=false",
		"ZINC_PROMETHEUS_ENABLE=false",
		"ZINC_SWAGGER_ENABLE=false",
		"ZINC_PLUGIN_ES_VERSION=" + esVersion,
		"ZINC_SHARD_NUM=1",
		"ZINC_WAL_SYNC_INTERVAL=100ms",
		"GIN_MODE=release",
	}
}

const (
	esVersion = "8.15.0"
	childEnv  = "HARRIER_ESPEER_CHILD"
)

type options struct {
	addr       string
	dataDir    string
	user, pass string
	apiKey     string
	reqHeader  string // "Name: value" every request must carry
	tlsCert    string
	tlsKey     string
	clientCA   string
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:0", "listen address (loopback)")
	flag.StringVar(&o.dataDir, "data", "", "data directory (required)")
	flag.StringVar(&o.user, "user", "", "require HTTP basic auth with this user")
	flag.StringVar(&o.pass, "password", "", "password for -user")
	flag.StringVar(&o.apiKey, "apikey", "", "accept 'Authorization: ApiKey <this>'")
	flag.StringVar(&o.reqHeader, "require-header", "", `reject requests without this header ("Name: value")`)
	flag.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate")
	flag.StringVar(&o.tlsKey, "tls-key", "", "key for -tls-cert")
	flag.StringVar(&o.clientCA, "client-ca", "", "require client certificates signed by this CA")
	flag.Parse()
	if o.dataDir == "" {
		log.Fatal("espeer: -data is required")
	}
	if os.Getenv(childEnv) != "1" {
		reexec(o.dataDir)
	}
	if err := run(o); err != nil {
		log.Fatalf("espeer: %v", err)
	}
}

// reexec runs this binary again with ZincSearch's environment in place.
func reexec(dataDir string) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		log.Fatalf("espeer: -data: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		log.Fatalf("espeer: %v", err)
	}
	env := append(os.Environ(), zincEnv(abs)...)
	env = append(env, childEnv+"=1")
	if err := syscall.Exec(self, os.Args, env); err != nil {
		log.Fatalf("espeer: re-exec: %v", err)
	}
}

func run(o options) error {
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %s: loopback addresses only", o.addr)
	}
	p := &peer{opts: o, zinc: newZinc(), templates: map[string]json.RawMessage{}}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	if o.tlsCert != "" {
		cfg, err := serverTLS(o)
		if err != nil {
			return err
		}
		srv.TLSConfig = cfg
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return closeZinc()
}

func serverTLS(o options) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if o.clientCA != "" {
		pem, err := os.ReadFile(o.clientCA)
		if err != nil {
			return nil, fmt.Errorf("-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("-client-ca: no PEM certificate")
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

type peer struct {
	opts options
	zinc http.Handler

	mu        sync.Mutex
	templates map[string]json.RawMessage
}

func (p *peer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	if err := p.authorize(r); err != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="espeer"`)
		esError(w, http.StatusUnauthorized, "security_exception", err.Error())
		return
	}
	if name, value, ok := strings.Cut(p.opts.reqHeader, ":"); ok && r.Header.Get(strings.TrimSpace(name)) != strings.TrimSpace(value) {
		esError(w, http.StatusBadRequest, "illegal_argument_exception", "missing required header "+strings.TrimSpace(name))
		return
	}
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			esError(w, http.StatusBadRequest, "parse_exception", "gzip body: "+err.Error())
			return
		}
		defer zr.Close()
		r.Body = io.NopCloser(zr)
		r.Header.Del("Content-Encoding")
		r.Header.Del("Content-Length")
		r.ContentLength = -1
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		p.info(w)
	case parts[0] == "_index_template" && len(parts) == 2:
		p.template(w, r, parts[1])
	case len(parts) == 2 && parts[1] == "_count":
		p.count(w, r, parts[0])
	case parts[len(parts)-1] == "_bulk" && r.Method != http.MethodGet:
		p.bulk(w, r)
	default:
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/_search") {
			r.Method = http.MethodPost // ZincSearch routes search as POST only
		}
		r.URL.Path = "/es" + r.URL.Path
		p.zinc.ServeHTTP(w, r)
	}
}

func (p *peer) authorize(r *http.Request) error {
	if p.opts.user == "" && p.opts.apiKey == "" {
		return nil
	}
	// The auth scheme is case-insensitive (the v8 client sends "APIKey").
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if p.opts.apiKey != "" && strings.EqualFold(scheme, "ApiKey") && cred == p.opts.apiKey {
		return nil
	}
	if u, pw, ok := r.BasicAuth(); ok && p.opts.user != "" && u == p.opts.user && pw == p.opts.pass {
		return nil
	}
	return errors.New("missing or wrong credentials")
}

func (p *peer) info(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name":         "espeer",
		"cluster_name": "harrier-test",
		"cluster_uuid": "espeer",
		"version": map[string]any{
			"number":                              esVersion,
			"build_flavor":                        "default",
			"lucene_version":                      "9.11.1",
			"minimum_wire_compatibility_version":  "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	})
}

// template stores index templates verbatim: ZincSearch's own template
// support knows fewer field types (no flattened, no date_nanos), and the
// tests check what the output installed, not how ZincSearch maps it.
func (p *peer) template(w http.ResponseWriter, r *http.Request, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || !json.Valid(body) {
			esError(w, http.StatusBadRequest, "parse_exception", "index template body is not JSON")
			return
		}
		p.templates[name] = body
		writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
	case http.MethodGet, http.MethodHead:
		t, ok := p.templates[name]
		if !ok {
			esError(w, http.StatusNotFound, "resource_not_found_exception", "index template matching ["+name+"] not found")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"index_templates": []any{map[string]any{"name": name, "index_template": t}}})
	case http.MethodDelete:
		delete(p.templates, name)
		writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
	default:
		esError(w, http.StatusMethodNotAllowed, "illegal_argument_exception", r.Method+" not allowed")
	}
}

// count answers _count through ZincSearch's search with size 0.
func (p *peer) count(w http.ResponseWriter, r *http.Request, index string) {
	var q struct {
		Query json.RawMessage `json:"query"`
	}
	if body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20)); len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &q); err != nil {
			esError(w, http.StatusBadRequest, "parse_exception", "count body: "+err.Error())
			return
		}
	}
	if len(q.Query) == 0 {
		q.Query = json.RawMessage(`{"match_all":{}}`)
	}
	search, _ := json.Marshal(map[string]any{"query": q.Query, "size": 0, "track_total_hits": true})
	req := httptest.NewRequest(http.MethodPost, "/es/"+index+"/_search", bytes.NewReader(search))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	p.zinc.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		if rec.Code == http.StatusBadRequest && strings.Contains(rec.Body.String(), "does not exists") {
			esError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+index+"]")
			return
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	var res struct {
		Hits struct {
			Total struct {
				Value int64 `json:"value"`
			} `json:"total"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		esError(w, http.StatusInternalServerError, "exception", "search response: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": res.Hits.Total.Value, "_shards": map[string]int{"total": 1, "successful": 1, "skipped": 0, "failed": 0}})
}

// bulk runs ZincSearch's bulk and turns its in-body failure report into
// what Elasticsearch does: a 5xx when the request failed as a whole.
func (p *peer) bulk(w http.ResponseWriter, r *http.Request) {
	r.URL.Path = "/es" + r.URL.Path
	rec := httptest.NewRecorder()
	p.zinc.ServeHTTP(rec, r)
	var res struct {
		Error string `json:"error"`
	}
	if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &res) == nil && res.Error != "" {
		esError(w, http.StatusInternalServerError, "exception", res.Error)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func esError(w http.ResponseWriter, status int, typ, reason string) {
	writeJSON(w, status, map[string]any{
		"error":  map[string]any{"type": typ, "reason": reason, "root_cause": []any{map[string]any{"type": typ, "reason": reason}}},
		"status": status,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
