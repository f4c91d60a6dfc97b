// Package syslog sends alerts as RFC 5424 syslog messages over UDP, TCP or
// TLS (RFC 5425), like falcosidekick's syslog output. On TCP and TLS each
// message is octet-counted ("<length> <message>", RFC 6587), so messages may
// hold newlines; over UDP each message is one datagram.
//
// Syslog has no acknowledgements: a batch counts as delivered once written
// to the socket. A failed write drops the connection and the batch is
// retried whole on a new one, so a receiver may see duplicates (at least
// once, as with every output).
package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/msgtemplate"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// Protocols.
const (
	UDP = "udp"
	TCP = "tcp"
	TLS = "tls"
)

// Message formats (the MSG part).
const (
	FormatJSON = "json" // Falco JSON (default)
	FormatText = "text" // the alert's output line
)

// MaxUDP is the largest message sent over UDP (a datagram's payload over
// IPv4 less headers); larger alerts are refused for good, not truncated.
const MaxUDP = 65507

// Config of one syslog output.
type Config struct {
	Name     string
	Host     string
	Port     int
	Protocol string // UDP (default), TCP or TLS
	Format   string // FormatJSON (default) or FormatText
	Facility string // local0 by default; kern..local7
	AppName  string // "harrier" by default
	// Template, when set, renders MSG in FormatText.
	Template *msgtemplate.Template
	Timeout  time.Duration
	TLS      tlsconfig.Client
}

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14, "solaris-cron": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Validate checks c without side effects.
func (c *Config) Validate() error {
	if c.Host == "" {
		return errors.New("host is required")
	}
	if c.Port <= 0 || c.Port > 65535 {
		return fmt.Errorf("port %d: want 1-65535", c.Port)
	}
	switch c.Protocol {
	case "", UDP, TCP, TLS:
	default:
		return fmt.Errorf("protocol %q: want udp, tcp or tls", c.Protocol)
	}
	switch c.Format {
	case "", FormatJSON, FormatText:
	default:
		return fmt.Errorf("format %q: want json or text", c.Format)
	}
	if _, ok := facilities[c.Facility]; c.Facility != "" && !ok {
		return fmt.Errorf("facility %q: want a syslog facility name such as kern, user, daemon, auth or local0 to local7", c.Facility)
	}
	if !printASCII(c.AppName, 48) {
		return fmt.Errorf("appname %q: want at most 48 printable ASCII characters", c.AppName)
	}
	return nil
}

// Output is a syslog output.
type Output struct {
	cfg      Config
	facility int
	addr     string
	tls      *tls.Config

	mu   sync.Mutex // one batch on the connection at a time
	conn net.Conn
}

// New builds a syslog output; it connects on first delivery.
func New(cfg Config) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Protocol == "" {
		cfg.Protocol = UDP
	}
	if cfg.Format == "" {
		cfg.Format = FormatJSON
	}
	if cfg.Facility == "" {
		cfg.Facility = "local0"
	}
	if cfg.AppName == "" {
		cfg.AppName = "harrier"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	o := &Output{cfg: cfg, facility: facilities[cfg.Facility], addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}
	if cfg.Protocol == TLS {
		tc, err := cfg.TLS.Config()
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		if tc.ServerName == "" && !tc.InsecureSkipVerify {
			tc.ServerName = cfg.Host
		}
		o.tls = tc
	}
	return o, nil
}

// Name implements output.Output.
func (o *Output) Name() string { return o.cfg.Name }

// Close implements output.Output.
func (o *Output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.drop()
}

func (o *Output) drop() error {
	if o.conn == nil {
		return nil
	}
	err := o.conn.Close()
	o.conn = nil
	return err
}

// Deliver implements output.Output.
func (o *Output) Deliver(ctx context.Context, alerts []*harrierv1.Alert) error {
	var (
		buf   []byte
		items []output.ItemError
		dgram [][]byte
	)
	for i, a := range alerts {
		msg, err := o.Message(a)
		if err != nil {
			items = append(items, output.ItemError{Index: i, Err: output.Permanent(err)})
			continue
		}
		if o.cfg.Protocol == UDP {
			if len(msg) > MaxUDP {
				items = append(items, output.ItemError{Index: i, Err: output.Permanent(
					fmt.Errorf("syslog %s: message of %d bytes exceeds a UDP datagram (%d); use tcp", o.cfg.Name, len(msg), MaxUDP))})
				continue
			}
			dgram = append(dgram, msg)
			continue
		}
		buf = strconv.AppendInt(buf, int64(len(msg)), 10)
		buf = append(buf, ' ')
		buf = append(buf, msg...)
	}
	if len(buf) > 0 || len(dgram) > 0 {
		if err := o.write(ctx, buf, dgram); err != nil {
			return err // transient: the whole batch again, on a new connection
		}
	}
	if len(items) > 0 {
		return &output.PartialError{Items: items}
	}
	return nil
}

func (o *Output) write(ctx context.Context, stream []byte, dgrams [][]byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.conn == nil {
		d := net.Dialer{Timeout: o.cfg.Timeout}
		network := o.cfg.Protocol
		if network == TLS {
			network = TCP
		}
		c, err := d.DialContext(ctx, network, o.addr)
		if err != nil {
			return fmt.Errorf("syslog %s: %w", o.cfg.Name, err)
		}
		if o.tls != nil {
			tc := tls.Client(c, o.tls)
			hctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
			err := tc.HandshakeContext(hctx)
			cancel()
			if err != nil {
				c.Close()
				return fmt.Errorf("syslog %s: tls handshake: %w", o.cfg.Name, err)
			}
			c = tc
		}
		o.conn = c
	}
	deadline := time.Now().Add(o.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = o.conn.SetWriteDeadline(deadline)
	var err error
	if stream != nil {
		_, err = o.conn.Write(stream)
	}
	for _, d := range dgrams {
		if err != nil {
			break
		}
		_, err = o.conn.Write(d)
	}
	if err != nil {
		_ = o.drop()
		return fmt.Errorf("syslog %s: write: %w", o.cfg.Name, err)
	}
	return nil
}

// Message renders a as one RFC 5424 message:
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG.
// Falco's priorities are syslog's severities (emergency 0 .. debug 7).
func (o *Output) Message(a *harrierv1.Alert) ([]byte, error) {
	sev := int(a.GetPriority()) - 1
	if sev < 0 || sev > 7 {
		sev = 5 // unspecified: notice
	}
	var body []byte
	if o.cfg.Format == FormatText && o.cfg.Template != nil {
		text, err := o.cfg.Template.Render(a)
		if err != nil {
			return nil, fmt.Errorf("syslog %s: %w", o.cfg.Name, err)
		}
		body = []byte(text)
	} else if o.cfg.Format == FormatText {
		body = []byte(falcojson.TextLine(a))
	} else {
		var err error
		if body, err = falcojson.Marshal(a); err != nil {
			return nil, fmt.Errorf("syslog %s: %w", o.cfg.Name, err)
		}
	}
	ts := "-"
	if t := a.GetTime(); t != nil {
		ts = t.AsTime().UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	b := make([]byte, 0, len(body)+128)
	b = fmt.Appendf(b, "<%d>1 %s %s %s - %s - ", o.facility*8+sev, ts,
		header(a.GetHostname(), 255), o.cfg.AppName, header(a.GetSource(), 32))
	return append(b, body...), nil
}

// header makes s a valid header field: printable ASCII without spaces, at
// most max long, "-" when empty.
func header(s string, max int) string {
	if s == "" {
		return "-"
	}
	s = strings.Map(func(r rune) rune {
		if r > 32 && r < 127 {
			return r
		}
		return '_'
	}, s)
	if len(s) > max {
		s = s[:max]
	}
	return s
}

func printASCII(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for _, r := range s {
		if r <= 32 || r >= 127 {
			return false
		}
	}
	return true
}
