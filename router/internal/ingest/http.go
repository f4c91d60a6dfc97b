package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
)

// HTTP is Falco's http_output endpoint: POST / with one Falco JSON alert (or
// several, one per line). 200 once stored; 400 with the reason for bad
// input; 503 when storage fails.
type HTTP struct {
	j       journal.Appender
	m       *Metrics
	log     *slog.Logger
	token   string
	maxBody int64
}

// NewHTTP returns the handler. token, when non-empty, is required as a
// bearer token.
func NewHTTP(j journal.Appender, m *Metrics, log *slog.Logger, token string, maxBody int64) *HTTP {
	if m == nil {
		m = NewMetrics(nil)
	}
	if maxBody <= 0 {
		maxBody = 4 << 20
	}
	return &HTTP{j: j, m: m, log: logger(log), token: token, maxBody: maxBody}
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
			h.m.Batches.WithLabelValues("http", "unauthenticated").Inc()
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
	body, err := io.ReadAll(src)
	if err == nil && int64(len(body)) > h.maxBody {
		err = fmt.Errorf("body exceeds %d bytes", h.maxBody)
	}
	if err != nil {
		h.bad(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("reading body: %v", err))
		return
	}
	alerts, err := decodeBody(body)
	if err != nil {
		h.bad(w, r, http.StatusBadRequest, err.Error())
		return
	}
	recs, err := encode(alerts, "")
	if err != nil {
		h.bad(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := h.store(r.Context(), alerts, recs); err != nil {
		h.m.Batches.WithLabelValues("http", "retry").Inc()
		h.log.Error("http ingest: storing failed", "err", err)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "router storage unavailable; retry", http.StatusServiceUnavailable)
		return
	}
	h.m.Alerts.WithLabelValues("http").Add(float64(len(alerts)))
	h.m.Batches.WithLabelValues("http", "ok").Inc()
	h.m.Duration.WithLabelValues("http").Observe(time.Since(start).Seconds())
	w.WriteHeader(http.StatusOK)
}

// store appends one request's alerts, keyed by the Falco host that sent
// them, and waits until they are durable.
func (h *HTTP) store(ctx context.Context, alerts []*harrierv1.Alert, recs [][]byte) error {
	b := journal.Batch{Recs: recs, IDs: make([]string, len(alerts))}
	for i, a := range alerts {
		b.IDs[i] = a.GetId()
	}
	if len(alerts) > 0 {
		b.Key = alerts[0].GetHostname()
	}
	done, err := h.j.AppendBatch(b)
	if err != nil {
		return err
	}
	select {
	case res := <-done:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *HTTP) bad(w http.ResponseWriter, r *http.Request, code int, reason string) {
	h.m.Batches.WithLabelValues("http", "rejected").Inc()
	h.log.Warn("http ingest: request refused", "remote", r.RemoteAddr, "status", code, "reason", reason)
	http.Error(w, reason, code)
}

// decodeBody accepts one Falco JSON object, or several as JSON lines.
func decodeBody(body []byte) ([]*harrierv1.Alert, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("empty body: want a Falco JSON alert")
	}
	a, err := falcojson.Unmarshal(body)
	if err == nil {
		return []*harrierv1.Alert{a}, nil
	}
	if !bytes.Contains(body, []byte("\n")) {
		return nil, fmt.Errorf("invalid Falco JSON: %v", err)
	}
	var alerts []*harrierv1.Alert
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), len(body)+1)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		a, err := falcojson.Unmarshal(b)
		if err != nil {
			return nil, fmt.Errorf("invalid Falco JSON on line %d: %v", line, err)
		}
		alerts = append(alerts, a)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return alerts, nil
}
