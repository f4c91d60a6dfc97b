package decoded

import (
	"testing"

	"google.golang.org/protobuf/proto"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func TestRingSharesAndEvicts(t *testing.T) {
	r := NewRing(4)
	b1, _ := proto.Marshal(&harrierv1.Alert{Id: "one", Rule: "r"})
	b5, _ := proto.Marshal(&harrierv1.Alert{Id: "five", Rule: "r"})
	a, err := r.Get(1, b1)
	if err != nil || a.GetId() != "one" {
		t.Fatalf("%v %v", a, err)
	}
	if again, _ := r.Get(1, nil); again != a {
		t.Fatal("a second reader decoded again instead of sharing")
	}
	if five, _ := r.Get(5, b5); five.GetId() != "five" { // same slot as 1
		t.Fatalf("slot collision: %v", five)
	}
	if a2, _ := r.Get(1, b1); a2 == a || a2.GetId() != "one" {
		t.Fatal("evicted seq 1 must be decoded afresh")
	}
	if _, err := r.Get(9, []byte{0xff}); err == nil {
		t.Fatal("garbage decoded")
	}
}
