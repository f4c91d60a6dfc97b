package bpfcapture

import (
	"os"
	"testing"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: loads BPF programs into the kernel")
	}
}

func TestOpenLoadsAndAttaches(t *testing.T) {
	requireRoot(t)
	c, err := Open(Options{RingBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
