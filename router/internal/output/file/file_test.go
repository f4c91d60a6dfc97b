package file

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func TestDeliverAppendsJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "alerts.jsonl")
	for round := 0; round < 2; round++ {
		o, err := New(Config{Name: "file", Path: path, Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Deliver(context.Background(), []*harrierv1.Alert{{Id: "a", Rule: "r"}, {Id: "b", Rule: "r"}}); err != nil {
			t.Fatal(err)
		}
		o.Close()
	}
	f, _ := os.Open(path)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var ids []string
	for sc.Scan() {
		a, err := falcojson.Unmarshal(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.GetId())
	}
	if len(ids) != 4 || ids[0] != "a" || ids[3] != "b" {
		t.Fatalf("ids %v", ids)
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("empty path accepted")
	}
}
