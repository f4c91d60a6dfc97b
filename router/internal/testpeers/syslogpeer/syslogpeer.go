// Package syslogpeer runs Debian's rsyslogd as a syslog receiver on
// 127.0.0.1 (UDP, TCP or TLS) with a generated configuration, and reads
// what it parsed from its output file: one line per message with the
// RFC 5424 header fields rsyslog decoded, so a test checks the framing and
// the header as a real receiver understood them.
package syslogpeer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/harrier-security/harrier/router/internal/testkit/require"
	"github.com/harrier-security/harrier/router/internal/testpeers/peerproc"
)

// Options of a peer.
type Options struct {
	Protocol string // "udp", "tcp" or "tls"
	// CA, Cert and Key serve TLS (Protocol "tls").
	CA, Cert, Key string
}

// Peer is a running rsyslogd.
type Peer struct {
	Port    int
	out     string
	logPath string
}

// Message is one received message as rsyslog parsed it.
type Message struct {
	Pri, Timestamp, Hostname, AppName, MsgID, Msg string
}

// The template writes the parsed header fields, separated by a byte an
// alert never holds, then the message (JSON-escaped by rsyslog so it stays
// on one line).
const sep = "\x1f"

// Start runs rsyslogd until tb ends.
func Start(tb testing.TB, opts Options) *Peer {
	tb.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		require.Missing(tb, "rsyslogd (apt-get install rsyslog rsyslog-gnutls)")
		return nil
	}
	dir := tb.TempDir()
	p := &Peer{out: filepath.Join(dir, "out.log"), logPath: filepath.Join(dir, "rsyslogd.log")}
	p.Port, err = freePort(opts.Protocol)
	if err != nil {
		tb.Fatal(err)
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "global(workDirectory=%q", dir)
	if opts.Protocol == "tls" {
		fmt.Fprintf(&conf, " defaultNetstreamDriver=\"gtls\" defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q",
			opts.CA, opts.Cert, opts.Key)
	}
	conf.WriteString(")\n")
	switch opts.Protocol {
	case "udp":
		fmt.Fprintf(&conf, "module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"%d\")\n", p.Port)
	case "tcp":
		fmt.Fprintf(&conf, "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\")\n", p.Port)
	case "tls":
		fmt.Fprintf(&conf, "module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\")\n"+
			"input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\")\n", p.Port)
	default:
		tb.Fatalf("syslogpeer: protocol %q", opts.Protocol)
	}
	fmt.Fprintf(&conf, "template(name=\"fields\" type=\"string\" string=\"%%pri%%%s%%timereported:::date-rfc3339%%%s%%hostname%%%s%%app-name%%%s%%msgid%%%s%%msg:::json%%\\n\")\n",
		sep, sep, sep, sep, sep)
	fmt.Fprintf(&conf, "*.* action(type=\"omfile\" file=%q template=\"fields\" flushOnTXEnd=\"on\" asyncWriting=\"off\")\n", p.out)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	done := peerproc.Start(tb, "syslogpeer", cmd, p.logPath, 5*time.Second)
	// Ready when it listens: TCP accepts; for UDP, its socket shows in
	// /proc/net/udp.
	deadline := time.Now().Add(15 * time.Second)
	for !p.listening(opts.Protocol) {
		select {
		case <-done:
			tb.Fatalf("syslogpeer: rsyslogd exited; log:\n%s", p.Log())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("syslogpeer: not listening after 15s; log:\n%s", p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

func (p *Peer) listening(proto string) bool {
	if proto == "udp" {
		b, _ := os.ReadFile("/proc/net/udp")
		return bytes.Contains(b, []byte(fmt.Sprintf("0100007F:%04X", p.Port)))
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.Port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Log is rsyslogd's own output.
func (p *Peer) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// Messages returns what was received so far.
func (p *Peer) Messages() ([]Message, error) {
	f, err := os.Open(p.out)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Message
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), sep, 6)
		if len(parts) != 6 {
			continue // a partly written line
		}
		var msg string
		if err := json.Unmarshal([]byte(`"`+parts[5]+`"`), &msg); err != nil {
			msg = parts[5]
		}
		out = append(out, Message{parts[0], parts[1], parts[2], parts[3], parts[4], msg})
	}
	return out, sc.Err()
}

func freePort(proto string) (int, error) {
	if proto == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
