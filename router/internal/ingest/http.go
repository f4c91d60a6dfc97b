package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/harrier-security/harrier/proto/falcojson"
	"github.com/harrier-security/harrier/router/internal/journal"
)

// HTTP is Falco's http_output endpoint: POST / with one Falco JSON alert, or
// several as JSON lines (NDJSON) or a JSON array. 200 once stored (as the
// ack policy says); 400 with the reason for bad input; 413 for a body over
// the limit; 503 when storage fails.
//
// Falco posts one alert per request and waits for each answer, so the cost
// per request is what bounds a sender. A request allocates nothing on the
// way to the journal: the body lands in a pooled buffer, falcojson.Decoder
// turns it straight into the stored protobuf records (no message, no map),
// metrics are resolved once, the local journal's append is pooled
// (AppendWait) and concurrent requests share one write (the journal's
// group commit). The journal answers as soon as the alert is written
// (journal.AckWritten, the default) rather than after an fsync.
type HTTP struct {
	j       journal.Appender
	m       *Metrics
	log     *slog.Logger
	token   string
	maxBody int64
	ack     journal.Ack

	bearer                      []byte // "Bearer <token>"
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
	return &HTTP{j: j, m: m, log: logger(log), token: token, bearer: []byte("Bearer " + token), maxBody: maxBody, ack: journal.AckFsync,
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

// reqBuf is the per-request scratch: the body, the decoder and the stored
// records back to back. The journal copies records when it writes them, so
// all of it is reused once the append is answered.
type reqBuf struct {
	body   []byte
	dec    falcojson.Decoder
	recs   []byte
	ends   []int
	slices [][]byte
	ids    []string
	key    string // the last request's Falco host, reused while it repeats
	// wantIDs: the journal keeps ids apart from the records (Kafka's
	// header), so ids is filled; the local journal reads them from the
	// record.
	wantIDs bool
	// inFlight: the journal may still read recs (the request ended before
	// its answer), so the buffer is not reused.
	inFlight bool
}

var reqBufs = sync.Pool{New: func() any { return new(reqBuf) }}

// maxPooled keeps one huge request from pinning its buffers forever.
const maxPooled = 1 << 20

func (b *reqBuf) release() {
	if b.inFlight || cap(b.body) > maxPooled || cap(b.recs) > maxPooled {
		return
	}
	clear(b.ids)
	b.ids = b.ids[:0]
	b.body = b.body[:0]
	clear(b.slices)
	b.slices = b.slices[:0]
	b.ends = b.ends[:0]
	b.recs = b.recs[:0]
	reqBufs.Put(b)
}

func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST Falco JSON alerts to /", http.StatusMethodNotAllowed)
		return
	}
	if h.token != "" {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), h.bearer) != 1 {
			h.unauth.Inc()
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
	}
	start := time.Now()
	buf := reqBufs.Get().(*reqBuf)
	defer buf.release()
	iu, ok := h.j.(journal.IDUser)
	buf.wantIDs = !ok || iu.UsesIDs()
	if err := h.readBody(w, r, buf); err != nil {
		code := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || errors.Is(err, errTooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		h.bad(w, r, code, fmt.Sprintf("reading body: %v", err))
		return
	}
	if err := buf.decodeBody(); err != nil {
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
	h.okAlerts.Add(float64(len(buf.slices)))
	h.ok.Inc()
	h.duration.Observe(time.Since(start).Seconds())
	w.WriteHeader(http.StatusOK)
}

// waitAppender is the local journal's allocation-free append
// (journal.Journal.AppendWait).
type waitAppender interface {
	AppendWait(ctx context.Context, b journal.Batch) (journal.Result, error)
}

var errTooLarge = errors.New("body too large")

// readBody reads the request body into buf.body. A plain body of declared
// length (Falco's) is read in one go; chunked and gzip bodies go through
// the limiting readers.
func (h *HTTP) readBody(w http.ResponseWriter, r *http.Request, buf *reqBuf) error {
	n := r.ContentLength
	if n > h.maxBody {
		return fmt.Errorf("%w: %d bytes over the limit of %d", errTooLarge, n, h.maxBody)
	}
	gz := r.Header.Get("Content-Encoding") == "gzip" // Falco's http_output compress_uploads
	if n >= 0 && !gz {
		// net/http's body reader stops at the declared length.
		if int64(cap(buf.body)) < n {
			buf.body = make([]byte, n)
		}
		buf.body = buf.body[:n]
		_, err := io.ReadFull(r.Body, buf.body)
		return err
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, h.maxBody)
	if gz {
		zr, err := gzip.NewReader(src)
		if err != nil {
			return fmt.Errorf("gzip body: %v", err)
		}
		src = io.LimitReader(zr, h.maxBody+1)
	}
	bb := bytes.NewBuffer(buf.body[:0])
	_, err := bb.ReadFrom(src)
	buf.body = bb.Bytes()
	if err == nil && int64(len(buf.body)) > h.maxBody {
		err = fmt.Errorf("%w: over the limit of %d bytes", errTooLarge, h.maxBody)
	}
	return err
}

// store appends one request's alerts, keyed by the Falco host that sent
// them (Kafka keeps one key in order), and waits for the ack policy's
// answer. When the request ends first, buf stays with the journal's
// writer: it must not go back to the pool.
func (h *HTTP) store(ctx context.Context, buf *reqBuf) error {
	b := journal.Batch{Recs: buf.slices, Ack: h.ack, IDs: buf.ids, Key: buf.key}
	if w, ok := h.j.(waitAppender); ok {
		_, err := w.AppendWait(ctx, b)
		if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			buf.inFlight = true
		}
		return err
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
// or a JSON array of them, and stores each alert's record in b.recs. Errors
// name the line (NDJSON) or the element (array).
func (b *reqBuf) decodeBody() error {
	body := bytes.TrimSpace(b.body)
	if len(body) == 0 {
		return errors.New("empty body: want a Falco JSON alert")
	}
	if body[0] == '[' {
		return b.decodeArray(body)
	}
	if bytes.IndexByte(body, '\n') < 0 {
		if err := b.decodeAll(body); err != nil {
			return fmt.Errorf("invalid Falco JSON: %v", err)
		}
		return b.slice()
	}
	// Several lines: JSON lines, or one pretty-printed object.
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
		if err := b.decodeAll(l); err != nil {
			b.recs, b.ends, b.ids = b.recs[:0], b.ends[:0], b.ids[:0]
			if b.decodeAll(body) == nil {
				return b.slice()
			}
			return fmt.Errorf("invalid Falco JSON on line %d: %v", line, err)
		}
	}
	return b.slice()
}

// decodeAll decodes one alert that must fill data.
func (b *reqBuf) decodeAll(data []byte) error {
	n, err := b.decodeOne(data)
	if err == nil && n != len(data) {
		err = errors.New("falco json: trailing data after the alert object")
	}
	return err
}

// decodeOne appends the record of the alert at the start of data, with an
// id (UUIDv7) when it has none, and returns the bytes it used.
func (b *reqBuf) decodeOne(data []byte) (int, error) {
	from := len(b.recs)
	recs, info, n, err := b.dec.AppendProto(b.recs, data)
	if err != nil {
		return 0, err
	}
	b.recs = recs
	if len(b.ends) == 0 && string(info.Hostname) != b.key {
		b.key = string(info.Hostname)
	}
	id := info.ID
	if len(id) == 0 {
		b.recs = protowire.AppendTag(b.recs, fieldAlertID, protowire.BytesType)
		b.recs = protowire.AppendVarint(b.recs, 36)
		b.recs = appendUUIDv7(b.recs)
		id = b.recs[len(b.recs)-36:]
	}
	if size := len(b.recs) - from; size > journal.MaxRecordSize {
		return 0, fmt.Errorf("alert %d: %d bytes exceeds the %d-byte limit", len(b.ends), size, journal.MaxRecordSize)
	}
	if b.wantIDs {
		b.ids = append(b.ids, string(id))
	}
	b.ends = append(b.ends, len(b.recs))
	return n, nil
}

// slice cuts b.recs into the records, once appends no longer move it.
func (b *reqBuf) slice() error {
	from := 0
	for _, end := range b.ends {
		b.slices = append(b.slices, b.recs[from:end:end])
		from = end
	}
	return nil
}

// decodeArray reads a JSON array of Falco JSON alerts.
func (b *reqBuf) decodeArray(body []byte) error {
	i := skipJSONSpace(body, 1)
	if i < len(body) && body[i] == ']' {
		if skipJSONSpace(body, i+1) != len(body) {
			return errors.New("invalid JSON array: trailing data after the array")
		}
		return errors.New("empty JSON array: want at least one Falco JSON alert")
	}
	for el := 0; ; el++ {
		n, err := b.decodeOne(body[i:])
		if err != nil {
			return fmt.Errorf("invalid Falco JSON in array element %d: %v", el, err)
		}
		i += n
		if i >= len(body) {
			return errors.New("invalid JSON array: unexpected end")
		}
		switch body[i] {
		case ',':
			i = skipJSONSpace(body, i+1)
			continue
		case ']':
			if skipJSONSpace(body, i+1) != len(body) {
				return errors.New("invalid JSON array: trailing data after the array")
			}
			return b.slice()
		}
		return fmt.Errorf("invalid JSON array: want \",\" or \"]\" after element %d", el)
	}
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// appendUUIDv7 appends the text of a fresh UUIDv7 (RFC 9562: 48-bit Unix
// milliseconds, then random bits) without allocating, unlike uuid.NewV7.
// Ids only need to be unique; ordering within a millisecond is not kept.
func appendUUIDv7(dst []byte) []byte {
	var u [16]byte
	ms := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint64(u[0:8], ms<<16|rand.Uint64()&0xffff)
	binary.BigEndian.PutUint64(u[8:16], rand.Uint64())
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // variant 10
	var t [36]byte
	hex.Encode(t[0:8], u[0:4])
	t[8] = '-'
	hex.Encode(t[9:13], u[4:6])
	t[13] = '-'
	hex.Encode(t[14:18], u[6:8])
	t[18] = '-'
	hex.Encode(t[19:23], u[8:10])
	t[23] = '-'
	hex.Encode(t[24:36], u[10:16])
	return append(dst, t[:]...)
}
