package sink

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// TestJSONProperties: Falco's json_include_*_property switches decide
// which properties a JSON alert carries.
func TestJSONProperties(t *testing.T) {
	a := alert("a1", harrierv1.Priority_PRIORITY_WARNING)
	cases := []struct {
		name        string
		props       JSONProperties
		has, hasnot []string
	}{
		{"Falco's defaults", FalcoJSON, []string{"output", "output_fields", "tags", "rule", "priority", "time", "source", "hostname"}, []string{"message"}},
		{"message only", JSONProperties{Message: true}, []string{"message", "rule", "time"}, []string{"output", "output_fields", "tags"}},
		{"no tags", JSONProperties{Output: true, OutputFields: true}, []string{"output", "output_fields"}, []string{"tags", "message"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Format{JSON: true, Props: c.props}.Append(nil, a)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			for _, k := range c.has {
				if _, ok := m[k]; !ok {
					t.Errorf("lacks %q: %s", k, b)
				}
			}
			for _, k := range c.hasnot {
				if _, ok := m[k]; ok {
					t.Errorf("has %q: %s", k, b)
				}
			}
			if c.props.Message && m["message"] != "Pod started with privileged container (user=admin)" {
				t.Errorf("message %q: the output without time and priority", m["message"])
			}
		})
	}
	if b, _ := TextFormat.Append(nil, a); string(b) != a.GetOutput() {
		t.Errorf("text %q", b)
	}
}

// TestBufferedWriter: buffered_outputs holds lines until the buffer fills
// or the output closes; unbuffered writes each at once.
func TestBufferedWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewFormatWriter("stdout", &buf, TextFormat, true)
	_ = w.Send(alert("a", harrierv1.Priority_PRIORITY_WARNING))
	if buf.Len() != 0 {
		t.Fatalf("buffered output wrote at once: %q", buf.String())
	}
	_ = w.Close()
	if !strings.HasSuffix(buf.String(), "(user=admin)\n") {
		t.Fatalf("after close: %q", buf.String())
	}
}

// TestFileText: file_output without json_output writes Falco's text lines.
func TestFileText(t *testing.T) {
	p := filepath.Join(t.TempDir(), "events.txt")
	f, err := NewFormatFile(p, TextFormat, false)
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Send(alert("a", harrierv1.Priority_PRIORITY_WARNING))
	_ = f.Close()
	b, _ := os.ReadFile(p)
	if string(b) != alert("a", 0).GetOutput()+"\n" {
		t.Fatalf("file %q", b)
	}
}

// TestSyslogToARealSocket: the syslog output speaks the syslog protocol to
// a real unix datagram socket, severity from the priority, facility user;
// with no daemon it fails quietly (counted, logged once) and recovers.
func TestSyslogToARealSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	s := NewSyslog("unixgram", sock, TextFormat, quiet)
	s.retryGap = 0
	if err := s.Send(alert("a", harrierv1.Priority_PRIORITY_WARNING)); err != ErrUnavailable {
		t.Fatalf("no daemon: %v, want ErrUnavailable", err)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := s.Send(alert("a", harrierv1.Priority_PRIORITY_WARNING)); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(buf[:n])
	// <PRI> = facility user (1) * 8 + severity warning (4) = 12.
	if !strings.HasPrefix(msg, "<12>") || !strings.Contains(msg, "harrier-sensor") || !strings.Contains(msg, "Pod started with privileged container") {
		t.Fatalf("syslog message %q", msg)
	}
}

// TestProgramOutput runs a real shell command per alert and a kept-alive
// one reading lines, as Falco's program_output.
func TestProgramOutput(t *testing.T) {
	for _, keep := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "out")
		p := NewProgram(ProgramConfig{Command: "cat >> " + out, KeepAlive: keep, Format: JSONFormat, Logger: quiet})
		for _, id := range []string{"a1", "a2"} {
			if err := p.Send(alert(id, harrierv1.Priority_PRIORITY_WARNING)); err != nil {
				t.Fatal(err)
			}
		}
		_ = p.Close()
		b, _ := os.ReadFile(out)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], `"uuid":"a1"`) || !strings.Contains(lines[1], `"uuid":"a2"`) {
			t.Errorf("keep_alive=%v: program got %q", keep, b)
		}
	}
}

// TestHTTPFalcoOptions: text bodies as text/plain, the user agent, gzip
// (compress_uploads) and one connection per post without keep_alive.
func TestHTTPFalcoOptions(t *testing.T) {
	var mu sync.Mutex
	var got []string
	conns := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		mu.Lock()
		got = append(got, r.Header.Get("Content-Type")+"|"+r.UserAgent()+"|"+r.Header.Get("Content-Encoding")+"|"+string(b))
		conns[r.RemoteAddr] = true
		mu.Unlock()
	}))
	defer srv.Close()
	h := NewHTTP(HTTPConfig{URL: srv.URL, Format: &TextFormat, UserAgent: "falcosecurity/falco", Compress: true, NoKeepAlive: true, Logger: quiet})
	for _, id := range []string{"a1", "a2"} {
		_ = h.Send(alert(id, harrierv1.Priority_PRIORITY_WARNING))
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "text/plain|falcosecurity/falco|gzip|" + alert("", 0).GetOutput()
	if len(got) != 2 || got[0] != want || got[1] != want {
		t.Fatalf("posts %q, want twice %q", got, want)
	}
	if len(conns) != 2 {
		t.Errorf("%d connections for 2 posts without keep_alive", len(conns))
	}
}
