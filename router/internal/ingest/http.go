package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
)

// HTTP is Falco's http_output endpoint: POST / with one Falco JSON alert, or
// several as JSON lines (NDJSON) or a JSON array. 200 once stored (as the
// ack policy says); 400 with the reason for bad input; 413 for a body over
// the limit; 503 when storage fails.
//
// Falco posts one alert per request and waits for each answer, so the cost
// per request is what bounds a sender: buffers are pooled, metrics are
// resolved once, and the journal answers as soon as the alert is written
// (journal.AckWritten, the default) rather than after an fsync.
type HTTP struct {
	j       journal.Appender
	m       *Metrics
	log     *slog.Logger
	token   string
	maxBody int64
	ack     journal.Ack

	okAlerts                    prometheus.Counter
	ok, retry, rejected, unauth prometheus.Counter
	duration                    prometheus.Observer
}

// NewHTTP returns the handler. token, when non-empty, is required as a
// bearer token. Alerts are acknowledged once fsynced until WithAck says
// otherwise.
func NewHTTP(j journal.Appender, m *Metrics, log *slog.Logger, token string, maxBody int64) *HTTP {
	if m == nil {
		m = NewMetrics(nil)
	}
	if maxBody <= 0 {
		maxBody = 4 << 20
	}
	return &HTTP{j: j, m: m, log: logger(log), token: token, maxBody: maxBody, ack: journal.AckFsync,
		okAlerts: m.Alerts.WithLabelValues("http"),
		ok:       m.Batches.WithLabelValues("http", "ok"), retry: m.Batches.WithLabelValues("http", "retry"),
		rejected: m.Batches.WithLabelValues("http", "rejected"), unauth: m.Batches.WithLabelValues("http", "unauthenticated"),
		duration: m.Duration.WithLabelValues("http")}
}

// WithAck sets when a request is answered 200 (journal.AckWritten or
// journal.AckFsync).
func (h *HTTP) WithAck(a journal.Ack) *HTTP {
	h.ack = a
	return h
}

// reqBuf is the per-request scratch: the body, and the stored records
// marshalled back to back. The journal copies records when it writes them,
// so both are reused once Append returns.
type reqBuf struct {
	body   bytes.Buffer
	recs   []byte
	slices [][]byte
	alerts []*harrierv1.Alert
	ids    []string
	// inFlight: the journal may still read recs (the request ended before
	// its answer), so the buffer is not reused.
	inFlight bool
}

var reqBufs = sync.Pool{New: func() any { return new(reqBuf) }}

// maxPooled keeps one huge request from pinning its buffers forever.
const maxPooled = 1 << 20

func (b *reqBuf) release() {
	if b.inFlight || b.body.Cap() > maxPooled || cap(b.recs) > maxPooled {
		return
	}
	clear(b.ids)
	b.ids = b.ids[:0]
	b.body.Reset()
	clear(b.alerts)
	b.alerts = b.alerts[:0]
	clear(b.slices)
	b.slices = b.slices[:0]
	reqBufs.Put(b)
}

func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST Falco JSON alerts to /", http.StatusMethodNotAllowed)
		return
	}
	if h.token != "" {
		want := []byte("Bearer " + h.token)
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			h.unauth.Inc()
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
	}
	start := time.Now()
	var src io.Reader = http.MaxBytesReader(w, r.Body, h.maxBody)
	if r.Header.Get("Content-Encoding") == "gzip" { // Falco's http_output compress_uploads
		zr, err := gzip.NewReader(src)
		if err != nil {
			h.bad(w, r, http.StatusBadRequest, fmt.Sprintf("gzip body: %v", err))
			return
		}
		src = io.LimitReader(zr, h.maxBody+1)
	}
	buf := reqBufs.Get().(*reqBuf)
	defer buf.release()
	if n := r.ContentLength; n > 0 && n <= h.maxBody {
		buf.body.Grow(int(n) + bytes.MinRead) // one read, no regrowth
	}
	_, err := buf.body.ReadFrom(src)
	if err == nil && int64(buf.body.Len()) > h.maxBody {
		err = fmt.Errorf("body exceeds %d bytes", h.maxBody)
	}
	if err != nil {
		code := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || int64(buf.body.Len()) > h.maxBody {
			code = http.StatusRequestEntityTooLarge
		}
		h.bad(w, r, code, fmt.Sprintf("reading body: %v", err))
		return
	}
	buf.alerts, err = decodeBody(buf.body.Bytes(), buf.alerts[:0])
	if err != nil {
		h.bad(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := buf.encode(); err != nil {
		h.bad(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := h.store(r.Context(), buf); err != nil {
		h.retry.Inc()
		h.log.Error("http ingest: storing failed", "err", err)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "router storage unavailable; retry", http.StatusServiceUnavailable)
		return
	}
	h.okAlerts.Add(float64(len(buf.alerts)))
	h.ok.Inc()
	h.duration.Observe(time.Since(start).Seconds())
	w.WriteHeader(http.StatusOK)
}

// encode validates and marshals the alerts into b.recs (see encode).
func (b *reqBuf) encode() error {
	b.recs = b.recs[:0]
	ends := make([]int, 0, 8)
	for i, a := range b.alerts {
		var err error
		if b.recs, err = encodeOne(b.recs, a, "", i); err != nil {
			return err
		}
		ends = append(ends, len(b.recs))
	}
	// Slice after marshalling: appends may have moved b.recs.
	from := 0
	for _, end := range ends {
		b.slices = append(b.slices, b.recs[from:end:end])
		from = end
	}
	return nil
}

// store appends one request's alerts, keyed by the Falco host that sent
// them (Kafka keeps one key in order), and waits for the ack policy's
// answer. When the request ends first, buf stays with the journal's
// writer: it must not go back to the pool.
func (h *HTTP) store(ctx context.Context, buf *reqBuf) error {
	b := journal.Batch{Recs: buf.slices, Ack: h.ack, IDs: buf.ids[:0]}
	for _, a := range buf.alerts {
		b.IDs = append(b.IDs, a.GetId())
	}
	buf.ids = b.IDs
	if len(buf.alerts) > 0 {
		b.Key = buf.alerts[0].GetHostname()
	}
	done, err := h.j.AppendBatch(b)
	if err != nil {
		return err
	}
	select {
	case res := <-done:
		return res.Err
	case <-ctx.Done():
		buf.inFlight = true
		return ctx.Err()
	}
}

func (h *HTTP) bad(w http.ResponseWriter, r *http.Request, code int, reason string) {
	h.rejected.Inc()
	h.log.Warn("http ingest: request refused", "remote", r.RemoteAddr, "status", code, "reason", reason)
	http.Error(w, reason, code)
}

// decodeBody accepts one Falco JSON object, several as JSON lines (NDJSON),
// or a JSON array of them, appending the alerts to dst. Errors name the
// line (NDJSON) or the element (array).
func decodeBody(raw []byte, dst []*harrierv1.Alert) ([]*harrierv1.Alert, error) {
	body := bytes.TrimSpace(raw)
	if len(body) == 0 {
		return nil, errors.New("empty body: want a Falco JSON alert")
	}
	if body[0] == '[' {
		return decodeArray(body, dst)
	}
	nl := bytes.IndexByte(body, '\n')
	if nl < 0 {
		a, err := falcojson.Unmarshal(body)
		if err != nil {
			return nil, fmt.Errorf("invalid Falco JSON: %v", err)
		}
		return append(dst, a), nil
	}
	// Several lines: JSON lines, or one pretty-printed object.
	n0 := len(dst)
	line := 0
	for rest := body; len(rest) > 0; {
		line++
		var l []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i], rest[i+1:]
		} else {
			l, rest = rest, nil
		}
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		a, err := falcojson.Unmarshal(l)
		if err != nil {
			if whole, werr := falcojson.Unmarshal(body); werr == nil {
				return append(dst[:n0], whole), nil
			}
			return nil, fmt.Errorf("invalid Falco JSON on line %d: %v", line, err)
		}
		dst = append(dst, a)
	}
	return dst, nil
}

// decodeArray reads a JSON array of Falco JSON alerts.
func decodeArray(body []byte, dst []*harrierv1.Alert) ([]*harrierv1.Alert, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON array: %v", err)
	}
	n0 := len(dst)
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("invalid JSON array at element %d: %v", i, err)
		}
		a, err := falcojson.Unmarshal(raw)
		if err != nil {
			return nil, fmt.Errorf("invalid Falco JSON in array element %d: %v", i, err)
		}
		dst = append(dst, a)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invalid JSON array: %v", err)
	}
	if dec.InputOffset() != int64(len(body)) {
		return nil, errors.New("invalid JSON array: trailing data after the array")
	}
	if len(dst) == n0 {
		return nil, errors.New("empty JSON array: want at least one Falco JSON alert")
	}
	return dst, nil
}
