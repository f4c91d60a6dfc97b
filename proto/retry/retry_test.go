package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestTransientStatus(t *testing.T) {
	tests := []struct {
		code int
		want bool
	}{
		{0, true}, // no status known: hold rather than refuse
		{200, false}, {204, false},
		{400, false}, {401, false}, {403, false}, {404, false}, {405, false}, {409, false},
		{413, false}, {415, false}, {422, false},
		{408, true}, {425, true}, {429, true},
		{500, true}, {501, true}, {502, true}, {503, true}, {504, true}, {599, true},
	}
	for _, tt := range tests {
		if got := TransientStatus(tt.code); got != tt.want {
			t.Errorf("TransientStatus(%d) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

// Each case provokes the error over a real loopback socket, as an HTTP
// output meets it.
func TestTransientError(t *testing.T) {
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer plain.Close()

	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	// A server that accepts, then resets (SO_LINGER 0) or closes without an
	// answer.
	abrupt := func(reset bool) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_, _ = c.Read(make([]byte, 4096))
				if reset {
					_ = c.(*net.TCPConn).SetLinger(0)
				}
				c.Close()
			}
		}()
		return "http://" + l.Addr().String() + "/"
	}
	resetURL, eofURL := abrupt(true), abrupt(false)

	do := func(c *http.Client, ctx context.Context, method, url string, hdr http.Header) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Method = method // NewRequest checks the method; Do must see a bad one
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	bg := context.Background()
	quick := &http.Client{Timeout: 200 * time.Millisecond}
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	deadline, cancel2 := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel2()
	tlsToPlain := "https://" + plain.Listener.Addr().String() + "/"

	tests := []struct {
		name string
		err  func() error
		want bool
	}{
		{"nil", func() error { return nil }, false},
		{"client timeout", func() error { return do(quick, bg, "POST", slow.URL, nil) }, true},
		{"context deadline", func() error { return do(http.DefaultClient, deadline, "POST", slow.URL, nil) }, true},
		{"context cancel", func() error { return do(http.DefaultClient, cancelled, "POST", slow.URL, nil) }, true},
		{"connection refused", func() error { return do(http.DefaultClient, bg, "POST", "http://"+closedAddr+"/", nil) }, true},
		{"connection reset", func() error { return do(http.DefaultClient, bg, "POST", resetURL, nil) }, true},
		{"closed without answer", func() error { return do(http.DefaultClient, bg, "POST", eofURL, nil) }, true},
		{"TLS unknown authority", func() error { return do(http.DefaultClient, bg, "POST", tlsSrv.URL, nil) }, true},
		{"TLS to a plaintext server", func() error { return do(http.DefaultClient, bg, "POST", tlsToPlain, nil) }, true},
		{"unknown host", func() error { return do(quick, bg, "POST", "http://harrier-test.invalid/", nil) }, true},
		{"unsupported scheme", func() error { return do(http.DefaultClient, bg, "POST", "ftp://127.0.0.1/", nil) }, false},
		{"no host", func() error { return do(http.DefaultClient, bg, "POST", "http:///x", nil) }, false},
		{"invalid header value", func() error {
			return do(http.DefaultClient, bg, "POST", plain.URL, http.Header{"X-A": {"a\nb"}})
		}, false},
		{"invalid method", func() error { return do(http.DefaultClient, bg, "BAD METHOD", plain.URL, nil) }, false},
		{"wrapped refusal", func() error {
			return fmt.Errorf("webhook soc: %w", do(http.DefaultClient, bg, "POST", "ftp://127.0.0.1/", nil))
		}, false},
		{"wrapped timeout", func() error { return fmt.Errorf("webhook soc: %w", do(quick, bg, "POST", slow.URL, nil)) }, true},
		{"unrecognised", func() error { return errors.New("something odd") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if tt.name != "nil" && err == nil {
				t.Fatal("the case provoked no error")
			}
			if got := TransientError(err); got != tt.want {
				t.Errorf("TransientError(%v) = %v, want %v", err, got, tt.want)
			}
		})
	}
}

func TestAfter(t *testing.T) {
	now := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"86400", MaxAfter, true},
		{"99999999999999999", MaxAfter, true},
		{now.Add(20 * time.Second).Format(http.TimeFormat), 20 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(time.Hour).Format(http.TimeFormat), MaxAfter, true},
	} {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Retry-After", tt.header)
		}
		if d, ok := After(h, now); d != tt.want || ok != tt.ok {
			t.Errorf("Retry-After %q: %v %v, want %v %v", tt.header, d, ok, tt.want, tt.ok)
		}
	}
}
