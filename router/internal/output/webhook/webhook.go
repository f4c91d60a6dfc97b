// Package webhook POSTs alerts as Falco JSON to an HTTP endpoint, like
// falcosidekick's webhook output.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/proto/retry"
	"github.com/harrier-security/harrier/router/internal/msgtemplate"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// Formats of the request body.
const (
	// FormatSingle sends one Falco JSON object per request (falcosidekick's
	// behaviour, what Falco-aware receivers expect).
	FormatSingle = "single"
	// FormatNDJSON sends a whole batch per request as JSON lines.
	FormatNDJSON = "ndjson"
)

// Config of one webhook.
type Config struct {
	Name          string
	Address       string
	Method        string            // POST by default
	CustomHeaders map[string]string // added to every request
	Timeout       time.Duration     // per request; 10s by default
	Format        string            // FormatSingle (default) or FormatNDJSON
	// Parallel bounds concurrent requests of one batch in FormatSingle.
	Parallel int
	TLS      tlsconfig.Client
	// Template, when set, makes each alert's body the rendered template
	// (sent as application/json when it renders to JSON, text/plain
	// otherwise) instead of Falco JSON.
	Template *msgtemplate.Template
}

// Output is a webhook.
type Output struct {
	cfg      Config
	client   *http.Client
	lineSize atomic.Int64 // mean ndjson line of the last batch
}

// Validate checks cfg without side effects.
func (c *Config) Validate() error {
	u, err := url.Parse(c.Address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("address %q: want an http:// or https:// URL", c.Address)
	}
	switch c.Format {
	case "", FormatSingle, FormatNDJSON:
	default:
		return fmt.Errorf("format %q: want %q or %q", c.Format, FormatSingle, FormatNDJSON)
	}
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return nil
}

// New builds a webhook output.
func New(cfg Config) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Format == "" {
		cfg.Format = FormatSingle
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	tc, err := cfg.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = cfg.Parallel * 2
	return &Output{cfg: cfg, client: &http.Client{Transport: tr, Timeout: cfg.Timeout}}, nil
}

// Name implements output.Output.
func (o *Output) Name() string { return o.cfg.Name }

// Close implements output.Output.
func (o *Output) Close() error {
	o.client.CloseIdleConnections()
	return nil
}

// Deliver implements output.Output.
func (o *Output) Deliver(ctx context.Context, alerts []*harrierv1.Alert) error {
	if o.cfg.Format == FormatNDJSON {
		body, perm := o.encodeLines(alerts)
		if len(body) > 0 {
			if err := o.post(ctx, body, "application/x-ndjson"); err != nil {
				return err
			}
		}
		if len(perm) > 0 {
			return &output.PartialError{Items: perm}
		}
		return nil
	}
	var (
		mu    sync.Mutex
		items []output.ItemError
		wg    sync.WaitGroup
		sem   = make(chan struct{}, o.cfg.Parallel)
	)
	for i, a := range alerts {
		b, ctype, err := o.encode(a)
		if err != nil {
			items = append(items, output.ItemError{Index: i, Err: output.Permanent(err)})
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, b []byte) {
			defer func() { <-sem; wg.Done() }()
			if err := o.post(ctx, b, ctype); err != nil {
				mu.Lock()
				items = append(items, output.ItemError{Index: i, Err: err})
				mu.Unlock()
			}
		}(i, b)
	}
	wg.Wait()
	if len(items) == 0 {
		return nil
	}
	if len(items) == len(alerts) && len(alerts) > 0 {
		allTransient := true
		for _, it := range items {
			if output.IsPermanent(it.Err) {
				allTransient = false
			}
		}
		if allTransient {
			return items[0].Err // the endpoint is down: retry the batch
		}
	}
	return &output.PartialError{Items: items}
}

// encode is one alert's body and its content type.
func (o *Output) encode(a *harrierv1.Alert) ([]byte, string, error) {
	if o.cfg.Template == nil {
		b, err := falcojson.Marshal(a)
		return b, "application/json", err
	}
	text, err := o.cfg.Template.Render(a)
	if err != nil {
		return nil, "", err
	}
	if json.Valid([]byte(text)) {
		return []byte(text), "application/json", nil
	}
	return []byte(text), "text/plain; charset=utf-8", nil
}

func (o *Output) post(ctx context.Context, body []byte, contentType string) error {
	req, err := http.NewRequestWithContext(ctx, o.cfg.Method, o.cfg.Address, bytes.NewReader(body))
	if err != nil {
		return output.Permanent(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "harrier-router")
	for k, v := range o.cfg.CustomHeaders {
		req.Header.Set(k, v)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		err = fmt.Errorf("webhook %s: %w", o.cfg.Name, err)
		if retry.TransientError(err) { // network, TLS or timeout
			return err
		}
		return output.Permanent(err)
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("webhook %s: HTTP %d: %s", o.cfg.Name, resp.StatusCode, bytes.TrimSpace(snippet))
	if retry.TransientStatus(resp.StatusCode) {
		return err
	}
	return output.Permanent(err)
}

// encodeLines renders alerts as lines of Falco JSON (or of the template), in parallel chunks for
// large batches (JSON encoding is most of a webhook's CPU).
func (o *Output) encodeLines(alerts []*harrierv1.Alert) ([]byte, []output.ItemError) {
	if o.cfg.Template != nil {
		var buf []byte
		var perm []output.ItemError
		for i, a := range alerts {
			text, err := o.cfg.Template.Render(a)
			if err != nil {
				perm = append(perm, output.ItemError{Index: i, Err: output.Permanent(err)})
				continue
			}
			buf = append(append(buf, text...), '\n')
		}
		return buf, perm
	}
	chunks := runtime.GOMAXPROCS(0)
	if len(alerts) < 256 || chunks < 2 {
		chunks = 1
	}
	// Sized from the previous batch's lines, so that a body is one
	// allocation instead of a series of doublings and copies.
	lineSize := max(int(o.lineSize.Load()), 256)
	size := (len(alerts) + chunks - 1) / chunks
	if chunks == 1 {
		buf, perm := o.appendLines(make([]byte, 0, len(alerts)*lineSize+lineSize), alerts, 0, len(alerts), nil)
		o.noteLineSize(len(buf), len(alerts)-len(perm))
		return buf, perm
	}
	bufs := make([][]byte, chunks)
	perms := make([][]output.ItemError, chunks)
	var wg sync.WaitGroup
	for c := 0; c < chunks; c++ {
		lo, hi := c*size, min((c+1)*size, len(alerts))
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			bufs[c], perms[c] = o.appendLines(make([]byte, 0, (hi-lo)*lineSize+lineSize), alerts, lo, hi, nil)
		}()
	}
	wg.Wait()
	var perm []output.ItemError
	for _, p := range perms {
		perm = append(perm, p...)
	}
	body := bytes.Join(bufs, nil)
	o.noteLineSize(len(body), len(alerts)-len(perm))
	return body, perm
}

// appendLines appends alerts[lo:hi] to buf as lines of Falco JSON.
func (o *Output) appendLines(buf []byte, alerts []*harrierv1.Alert, lo, hi int, perm []output.ItemError) ([]byte, []output.ItemError) {
	for i := lo; i < hi; i++ {
		var err error
		if buf, err = falcojson.AppendMarshal(buf, alerts[i]); err != nil {
			perm = append(perm, output.ItemError{Index: i, Err: output.Permanent(err)})
			continue
		}
		buf = append(buf, '\n')
	}
	return buf, perm
}

// noteLineSize keeps the mean line of the last batch (rounded up), which
// sizes the next batch's body.
func (o *Output) noteLineSize(n, lines int) {
	if lines > 0 {
		o.lineSize.Store(int64((n + lines - 1) / lines))
	}
}
