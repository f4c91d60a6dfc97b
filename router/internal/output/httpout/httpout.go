// Package httpout is what the router's HTTP API outputs (alertmanager,
// slack, loki, splunk, pagerduty, otlp over HTTP) share: one client per
// output with its TLS settings, and one way to send a request and turn the
// peer's answer into an error that proto/retry classifies and that says what
// the peer answered (status and a redacted excerpt of its body).
package httpout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/proto/retry"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// ExcerptBytes bounds how much of a failed answer's body an error quotes.
const ExcerptBytes = 512

// Client sends one output's requests.
type Client struct {
	// Name prefixes errors ("alertmanager: HTTP 400: ...").
	Name string
	// Headers are set on every request (custom headers, auth).
	Headers map[string]string
	// Secrets are scrubbed from error texts (tokens a peer may echo back).
	Secrets []string

	http *http.Client
}

// New builds a client with a per-request timeout (0: 10s).
func New(name string, timeout time.Duration, tc tlsconfig.Client) (*Client, error) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	cfg, err := tc.Config()
	if err != nil {
		return nil, fmt.Errorf("%s: tls: %w", name, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &Client{Name: name, http: &http.Client{Transport: tr, Timeout: timeout}}, nil
}

// Close drops idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Answer is a successful (2xx) response.
type Answer struct {
	Status int
	Body   []byte // at most 1 MiB
}

// Do sends body to u with method and headers (added to the client's own).
// A non-2xx answer, a network failure or a refused request becomes an
// error; it is output.Permanent unless proto/retry says a retry can help.
func (c *Client) Do(ctx context.Context, method, u string, body []byte, headers map[string]string) (Answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return Answer{}, output.Permanent(fmt.Errorf("%s: %s", c.Name, c.scrub(err.Error())))
	}
	req.Header.Set("User-Agent", "harrier-router")
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		transient := retry.TransientError(err)
		// net/http quotes the request URL, which may carry credentials.
		err = fmt.Errorf("%s: %s", c.Name, c.scrub(RedactURLs(err.Error())))
		if transient {
			return Answer{}, err
		}
		return Answer{}, output.Permanent(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return Answer{Status: resp.StatusCode, Body: raw}, nil
	}
	err = &StatusError{Output: c.Name, Status: resp.StatusCode, Excerpt: c.Excerpt(raw)}
	if retry.TransientStatus(resp.StatusCode) {
		return Answer{Status: resp.StatusCode, Body: raw}, err
	}
	return Answer{Status: resp.StatusCode, Body: raw}, output.Permanent(err)
}

// StatusError is a peer's non-2xx answer.
type StatusError struct {
	Output  string
	Status  int
	Excerpt string
}

func (e *StatusError) Error() string {
	if e.Excerpt == "" {
		return fmt.Sprintf("%s: HTTP %d", e.Output, e.Status)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.Output, e.Status, e.Excerpt)
}

// Excerpt is the start of a peer's answer, on one line, valid UTF-8, with
// the client's secrets and URL credentials removed.
func (c *Client) Excerpt(body []byte) string {
	b := bytes.TrimSpace(body)
	cut := len(b) > ExcerptBytes
	if cut {
		b = b[:ExcerptBytes]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	s = c.scrub(RedactURLs(s))
	if cut {
		s += " …"
	}
	return s
}

func (c *Client) scrub(s string) string {
	for _, sec := range c.Secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// RedactURLs removes user:password@ from the URLs in s (peers and net/http
// quote request URLs in errors).
func RedactURLs(s string) string {
	for _, scheme := range []string{"http://", "https://"} {
		var out strings.Builder
		rest := s
		for {
			i := strings.Index(rest, scheme)
			if i < 0 {
				out.WriteString(rest)
				break
			}
			out.WriteString(rest[:i+len(scheme)])
			rest = rest[i+len(scheme):]
			end := strings.IndexAny(rest, "/ \"'?#")
			if end < 0 {
				end = len(rest)
			}
			if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
				out.WriteString("[REDACTED]@")
				rest = rest[at+1:]
			}
		}
		s = out.String()
	}
	return s
}

// ValidURL checks that s is an absolute http(s) URL.
func ValidURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http:// or https:// URL", RedactURLs(s))
	}
	return nil
}

// EachAlert sends alerts one by one with send (chat and incident APIs take
// one alert per request), in order, stopping at ctx's end. When every alert
// failed transiently the peer is down: the batch's first error, so the
// whole batch is retried; otherwise a *output.PartialError for the failed
// ones.
func EachAlert(ctx context.Context, alerts []*harrierv1.Alert, send func(context.Context, *harrierv1.Alert) error) error {
	var items []output.ItemError
	transient := 0
	for i, a := range alerts {
		err := ctx.Err()
		if err == nil {
			err = send(ctx, a)
		}
		if err != nil {
			items = append(items, output.ItemError{Index: i, Err: err})
			if !output.IsPermanent(err) {
				transient++
			}
		}
	}
	switch {
	case len(items) == 0:
		return nil
	case transient == len(alerts):
		return items[0].Err
	}
	return &output.PartialError{Items: items}
}

// Transient strips output.Permanent from err (its peer's answer is kept).
func Transient(err error) error {
	var se *StatusError
	if errors.As(err, &se) {
		return se
	}
	return errors.Unwrap(err)
}
