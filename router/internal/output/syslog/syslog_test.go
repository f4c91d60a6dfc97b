package syslog

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/testcerts"
	"github.com/harrier-security/harrier/router/internal/testpeers/syslogpeer"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

var t0 = time.Date(2026, 11, 24, 1, 2, 3, 456789000, time.UTC)

func alert(id string, p harrierv1.Priority) *harrierv1.Alert {
	return &harrierv1.Alert{Id: id, Rule: "Terminal shell", Priority: p, Source: "syscall",
		Output: "shell spawned\nsecond line " + id, Time: timestamppb.New(t0), Hostname: "node 1"}
}

func TestMessageHeader(t *testing.T) {
	tests := []struct {
		prio   harrierv1.Priority
		cfg    Config
		prefix string
	}{
		{harrierv1.Priority_PRIORITY_EMERGENCY, Config{}, "<128>1 2026-11-24T01:02:03.456789Z node_1 harrier - syscall - "},
		{harrierv1.Priority_PRIORITY_WARNING, Config{Facility: "auth", AppName: "falco"}, "<36>1 2026-11-24T01:02:03.456789Z node_1 falco - syscall - "},
		{harrierv1.Priority_PRIORITY_DEBUG, Config{Facility: "kern"}, "<7>1 "},
		{harrierv1.Priority_PRIORITY_UNSPECIFIED, Config{Facility: "kern"}, "<5>1 "},
	}
	for _, tt := range tests {
		tt.cfg.Host, tt.cfg.Port = "127.0.0.1", 514
		o, err := New(tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		m, err := o.Message(alert("a", tt.prio))
		if err != nil || !strings.HasPrefix(string(m), tt.prefix) {
			t.Errorf("%v %+v: %q, want prefix %q (%v)", tt.prio, tt.cfg, m, tt.prefix, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{
		{Port: 514}, {Host: "h"}, {Host: "h", Port: 514, Protocol: "http"}, {Host: "h", Port: 514, Format: "cef"},
		{Host: "h", Port: 514, Facility: "local9"}, {Host: "h", Port: 514, AppName: "has space"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// Against Debian's rsyslogd: every protocol, framing and header as a real
// receiver parses them.
func TestDeliverToRsyslog(t *testing.T) {
	certs, err := testcerts.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, proto := range []string{UDP, TCP, TLS} {
		t.Run(proto, func(t *testing.T) {
			p := syslogpeer.Start(t, syslogpeer.Options{Protocol: proto, CA: certs.CA, Cert: certs.ServerCert, Key: certs.ServerKey})
			cfg := Config{Name: "syslog", Host: "127.0.0.1", Port: p.Port, Protocol: proto, Format: FormatJSON}
			if proto == TLS {
				cfg.TLS = tlsconfig.Client{CAFile: certs.CA}
			}
			o, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			batch := []*harrierv1.Alert{alert("a", harrierv1.Priority_PRIORITY_CRITICAL), alert("b", harrierv1.Priority_PRIORITY_NOTICE)}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var got []syslogpeer.Message
			for len(got) < 2 { // UDP may be lost before rsyslog reads: resend until seen
				if err := o.Deliver(ctx, batch); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(2 * time.Second)
				for len(got) < 2 && time.Now().Before(deadline) {
					if got, err = p.Messages(); err != nil {
						t.Fatal(err)
					}
					time.Sleep(20 * time.Millisecond)
				}
				if ctx.Err() != nil {
					t.Fatalf("received %+v; rsyslogd log:\n%s", got, p.Log())
				}
			}
			m := got[0]
			if m.Pri != "130" || m.Hostname != "node_1" || m.AppName != "harrier" || m.MsgID != "syscall" ||
				!strings.HasPrefix(m.Timestamp, "2026-11-24T01:02:03.456789") {
				t.Fatalf("header %+v", m)
			}
			a, err := falcojson.Unmarshal([]byte(strings.TrimSpace(m.Msg)))
			if err != nil || a.GetId() != "a" || a.GetOutput() != "shell spawned\nsecond line a" {
				t.Fatalf("msg %q: %v", m.Msg, err)
			}
			if got[1].Pri != "133" {
				t.Fatalf("second %+v", got[1])
			}
		})
	}
}

// Nobody listening on TCP: a transient error (retried), not a drop.
func TestDeliverUnreachableIsTransient(t *testing.T) {
	o, err := New(Config{Name: "syslog", Host: "127.0.0.1", Port: 1, Protocol: TCP, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = o.Deliver(context.Background(), []*harrierv1.Alert{alert("a", harrierv1.Priority_PRIORITY_ERROR)})
	if err == nil || output.IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
}
