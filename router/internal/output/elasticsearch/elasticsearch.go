// Package elasticsearch is the router's Elasticsearch output. Each alert
// becomes one document (Falco's JSON plus @timestamp) in <index>-<suffix>,
// the suffix taken from the alert's event time, with _id = alert id so a
// redelivered alert overwrites itself instead of duplicating. The bulk op
// is "index", not "create": both leave one document per id, but after a
// timeout whose request did land, "create" answers the retry with a 409
// that would have to be told apart from a real conflict, while "index"
// simply succeeds again. Because the index comes from the event time, a
// retry lands in the same index whenever it happens. An index template
// with explicit mappings is installed before the first write.
//
// It calls the bulk API directly through github.com/elastic/go-elasticsearch/v8
// rather than esutil.BulkIndexer: Deliver is one synchronous batch whose
// every item must be classified, while the BulkIndexer is an asynchronous
// stream with its own flush timer that reduces a failed request's status
// code to a string. The client still does transport, auth, TLS and gzip.
package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/harrier-security/harrier/router/internal/alertformat"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/proto/retry"
	"github.com/harrier-security/harrier/router/internal/output"
)

// Output delivers alerts to Elasticsearch with the bulk API.
type Output struct {
	cfg       Config
	client    *es.Client
	transport *http.Transport

	mu        sync.Mutex
	templated bool // the index template is installed
}

var _ output.Output = (*Output)(nil)

// New validates cfg and returns an Output. It does not contact the
// cluster: the template is installed by the first Deliver (or an explicit
// InstallTemplate), so the router starts and queues while Elasticsearch is
// down.
func New(cfg Config) (*Output, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("%s: tls: %w", cfg.Name, err)
	}
	header := http.Header{}
	for k, v := range cfg.CustomHeaders {
		header.Set(k, v)
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		ForceAttemptHTTP2:     true,
	}
	esCfg := es.Config{
		Addresses:           cfg.addresses(),
		Username:            cfg.Username,
		Password:            cfg.Password,
		APIKey:              cfg.APIKey,
		Header:              header,
		Transport:           transport,
		CompressRequestBody: !cfg.CompressionDisabled,
		PoolCompressor:      true,
		// The delivery pipeline owns retries (with backoff); the client
		// retrying too would multiply attempts and hide outages.
		DisableRetry: true,
	}
	if n := len(esCfg.Addresses); n > 1 {
		// Except failover: a node that refuses the connection never saw
		// the request, so trying the next node at once is safe and keeps
		// one dead node from failing deliveries.
		esCfg.DisableRetry = false
		esCfg.MaxRetries = n - 1
		esCfg.RetryOnStatus = []int{-1} // never: statuses are the pipeline's
		esCfg.RetryOnError = func(_ *http.Request, err error) bool {
			var op *net.OpError
			return errors.As(err, &op) && op.Op == "dial"
		}
	}
	client, err := es.NewClient(esCfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	return &Output{cfg: cfg, client: client, transport: transport}, nil
}

// Name is the configured output name.
func (o *Output) Name() string { return o.cfg.Name }

// Close releases idle connections.
func (o *Output) Close() error {
	o.transport.CloseIdleConnections()
	return nil
}

// InstallTemplate puts the index template (see Template); it is
// idempotent. Deliver calls it until it has succeeded once.
func (o *Output) InstallTemplate(ctx context.Context) error {
	if o.cfg.SkipTemplate {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	name := TemplateName(o.cfg.Index)
	res, err := o.client.Indices.PutIndexTemplate(name, bytes.NewReader(templateJSON(o.cfg)),
		o.client.Indices.PutIndexTemplate.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("%s: put index template %s: %w", o.cfg.Name, name, err)
	}
	defer drain(res.Body)
	if res.IsError() {
		// Transient even for 4xx: a missing privilege or a policy is fixed
		// by an operator, after which delivery resumes; nothing is lost.
		return fmt.Errorf("%s: put index template %s: %s: %s (set skiptemplate if templates are managed elsewhere)",
			o.cfg.Name, name, res.Status(), errorReason(res.Body))
	}
	return nil
}

func (o *Output) ensureTemplate(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.templated {
		return nil
	}
	if err := o.InstallTemplate(ctx); err != nil {
		return err
	}
	o.templated = true
	return nil
}

// Deliver indexes the batch with one bulk request (split in halves when
// the cluster answers 413). Statuses and network errors are classified by
// the shared rule (proto/retry): a rejected document (mapping or parse
// error, any 4xx but 408/425/429) is Permanent; 408, 425, 429, 5xx, network
// errors and timeouts are transient. A whole request refused for
// credentials, privileges or path (401, 403, 407, 404) is held for the
// operator (transient); refused otherwise (400, ...) it is Permanent.
func (o *Output) Deliver(ctx context.Context, alerts []*harrierv1.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	if err := o.ensureTemplate(ctx); err != nil {
		return err
	}
	var items []output.ItemError
	body := bytes.NewBuffer(make([]byte, 0, 1024*len(alerts)))
	sent := make([]int, 0, len(alerts)) // bulk item i carries alerts[sent[i]]
	for i, a := range alerts {
		if err := o.appendAction(body, a); err != nil {
			items = append(items, output.ItemError{Index: i, Err: output.Permanent(fmt.Errorf("%s: alert %s: %w", o.cfg.Name, a.GetId(), err))})
			continue
		}
		sent = append(sent, i)
	}
	if len(sent) > 0 {
		failed, err := o.bulk(ctx, body.Bytes(), alerts, sent)
		if err != nil {
			return err
		}
		items = append(items, failed...)
	}
	if len(items) == 0 {
		return nil
	}
	if len(items) == len(alerts) && !slices.ContainsFunc(items, func(it output.ItemError) bool { return output.IsPermanent(it.Err) }) {
		// Every alert failed transiently (a cluster rejecting all writes):
		// one error says it.
		return fmt.Errorf("%s: all %d alerts failed: %w", o.cfg.Name, len(alerts), items[0].Err)
	}
	return &output.PartialError{Items: sortItems(items)}
}

// appendAction appends the bulk action and document lines for a.
func (o *Output) appendAction(buf *bytes.Buffer, a *harrierv1.Alert) error {
	falco, t, err := o.documentBody(a)
	if err != nil {
		return err
	}
	// Written by hand: this runs per alert, and a map through
	// encoding/json cost more than the document itself.
	buf.WriteString(`{"index":{"_index":`)
	appendString(buf, IndexName(o.cfg.Index, o.cfg.Suffix, t))
	buf.WriteString(`,"_id":`)
	appendString(buf, documentID(a, falco))
	buf.WriteString("}}\n")
	if o.cfg.Format == "" || o.cfg.Format == alertformat.Falco {
		writeDocument(buf, falco, t)
	} else {
		buf.Write(falco)
	}
	buf.WriteByte('\n')
	return nil
}

// appendString writes s as a JSON string.
func appendString(buf *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			b, _ := json.Marshal(s) // rare: let encoding/json escape it
			buf.Write(b)
			return
		}
	}
	buf.WriteByte('"')
	buf.WriteString(s)
	buf.WriteByte('"')
}

// bulkResponse is the part of the bulk answer Deliver reads.
type bulkResponse struct {
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		Status int        `json:"status"`
		Error  *errorInfo `json:"error"`
	} `json:"items"`
}

type errorInfo struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	CausedBy *errorInfo `json:"caused_by"`
}

func (e *errorInfo) String() string {
	if e == nil {
		return "unknown error"
	}
	s := e.Type + ": " + e.Reason
	if e.CausedBy != nil {
		s += " (caused by " + e.CausedBy.String() + ")"
	}
	return s
}

// bulk sends the NDJSON body holding alerts[sent[...]] and returns the
// failed items, or an error when the whole request failed.
func (o *Output) bulk(ctx context.Context, body []byte, alerts []*harrierv1.Alert, sent []int) ([]output.ItemError, error) {
	rctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	opts := []func(*esapi.BulkRequest){
		o.client.Bulk.WithContext(rctx),
		o.client.Bulk.WithFilterPath("errors", "items.*.status", "items.*.error"),
	}
	if o.cfg.Pipeline != "" {
		opts = append(opts, o.client.Bulk.WithPipeline(o.cfg.Pipeline))
	}
	res, err := o.client.Bulk(bytes.NewReader(body), opts...)
	if err != nil {
		err = fmt.Errorf("%s: bulk request: %w", o.cfg.Name, err)
		if retry.TransientError(err) { // network, TLS or timeout
			return nil, err
		}
		return nil, output.Permanent(err)
	}
	defer drain(res.Body)
	if res.StatusCode == http.StatusRequestEntityTooLarge && len(sent) > 1 {
		return o.split(ctx, alerts, sent)
	}
	if res.IsError() {
		err := fmt.Errorf("%s: bulk request: %s: %s", o.cfg.Name, res.Status(), errorReason(res.Body))
		switch {
		case res.StatusCode == http.StatusRequestEntityTooLarge:
			// A single document the cluster will never take.
			return []output.ItemError{{Index: sent[0], Err: output.Permanent(err)}}, nil
		case retry.TransientStatus(res.StatusCode), operatorFixes(res.StatusCode):
			return nil, err
		}
		// The cluster refuses the request itself; resending it cannot help.
		return nil, output.Permanent(err)
	}
	var br bulkResponse
	if err := json.NewDecoder(res.Body).Decode(&br); err != nil {
		return nil, fmt.Errorf("%s: bulk response: %w", o.cfg.Name, err)
	}
	if len(br.Items) != len(sent) {
		return nil, fmt.Errorf("%s: bulk response has %d items for %d documents", o.cfg.Name, len(br.Items), len(sent))
	}
	if !br.Errors {
		return nil, nil
	}
	var failed []output.ItemError
	for i, it := range br.Items {
		for op, r := range it {
			if r.Error == nil && r.Status < 300 {
				continue
			}
			a := alerts[sent[i]]
			err := fmt.Errorf("%s: %s alert %s: status %d: %s", o.cfg.Name, op, a.GetId(), r.Status, r.Error)
			if !retry.TransientStatus(r.Status) {
				err = output.Permanent(err)
			}
			failed = append(failed, output.ItemError{Index: sent[i], Err: err})
		}
	}
	return failed, nil
}

// split delivers the halves of a batch the cluster found too large.
func (o *Output) split(ctx context.Context, alerts []*harrierv1.Alert, sent []int) ([]output.ItemError, error) {
	var failed []output.ItemError
	for _, half := range [][]int{sent[:len(sent)/2], sent[len(sent)/2:]} {
		var buf bytes.Buffer
		for _, i := range half {
			_ = o.appendAction(&buf, alerts[i]) // rendered once already
		}
		f, err := o.bulk(ctx, buf.Bytes(), alerts, half)
		if err != nil {
			return nil, err
		}
		failed = append(failed, f...)
	}
	return failed, nil
}

// operatorFixes reports whether a refusal of a whole bulk request is the
// cluster's configuration rather than the alerts': credentials, privileges,
// or a wrong path behind a proxy. An operator fixes those and delivery
// resumes, so they are held (retried), not dead-lettered; per document
// they are permanent, as the shared rule says.
func operatorFixes(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusProxyAuthRequired, http.StatusNotFound:
		return true
	}
	return false
}

// errorReason extracts Elasticsearch's error from a failed response body.
func errorReason(body io.Reader) string {
	raw, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil && len(e.Error) > 0 {
		var info errorInfo
		if json.Unmarshal(e.Error, &info) == nil && info.Type != "" {
			return info.String()
		}
		return strings.Trim(string(e.Error), `"`)
	}
	s := strings.TrimSpace(string(raw))
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	if s == "" {
		return "empty body"
	}
	return s
}

func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 1<<20))
	_ = body.Close()
}

func sortItems(items []output.ItemError) []output.ItemError {
	slices.SortFunc(items, func(a, b output.ItemError) int { return a.Index - b.Index })
	return items
}
