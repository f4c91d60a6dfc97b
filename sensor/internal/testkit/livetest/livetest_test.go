package livetest

import (
	"testing"
)

func TestReadMemory(t *testing.T) {
	before, err := ReadMemory()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<20)
	for i := range buf { // touch every page: resident
		buf[i] = byte(i)
	}
	after, err := ReadMemory()
	if err != nil {
		t.Fatal(err)
	}
	if after.RSS < before.RSS+32<<20 || after.PeakRSS < after.RSS {
		t.Errorf("RSS %d -> %d (peak %d) after touching 64 MiB", before.RSS, after.RSS, after.PeakRSS)
	}
	_ = buf[len(buf)-1]
}

func TestMatchers(t *testing.T) {
	a := Alert{PID: 30, PPID: 20, Ancestors: []int64{20, 10, 1}}
	for _, c := range []struct {
		name string
		got  bool
		want bool
	}{
		{"ByPID own", ByPID(30)(a), true},
		{"ByPID other", ByPID(20)(a), false},
		{"ByParent", ByParent(20)(a), true},
		{"ByParent grandparent", ByParent(10)(a), false},
		{"ByAncestor self", ByAncestor(30)(a), true},
		{"ByAncestor grandparent", ByAncestor(10)(a), true},
		{"ByAncestor stranger", ByAncestor(99)(a), false},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}
