package stdout

import (
	"bytes"
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func TestFormats(t *testing.T) {
	a := &harrierv1.Alert{Id: "x", Rule: "r", Priority: harrierv1.Priority_PRIORITY_ERROR, Output: "shell spawned",
		Time: timestamppb.New(time.Date(2026, 11, 24, 1, 2, 3, 5, time.UTC))}
	var buf bytes.Buffer
	o, _ := New(Config{Name: "stdout", Writer: &buf})
	if err := o.Deliver(context.Background(), []*harrierv1.Alert{a}); err != nil {
		t.Fatal(err)
	}
	if want := "2026-11-24T01:02:03.000000005Z: Error shell spawned\n"; buf.String() != want {
		t.Fatalf("text = %q, want %q", buf.String(), want)
	}
	buf.Reset()
	o, _ = New(Config{Name: "stdout", Format: FormatJSON, Writer: &buf})
	o.Deliver(context.Background(), []*harrierv1.Alert{a})
	if !bytes.Contains(buf.Bytes(), []byte(`"priority":"Error"`)) || !bytes.HasSuffix(buf.Bytes(), []byte("}\n")) {
		t.Fatalf("json = %q", buf.String())
	}
	if _, err := New(Config{Format: "xml"}); err == nil {
		t.Fatal("bad format accepted")
	}
}
