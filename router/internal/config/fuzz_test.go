package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: any file content yields a Config or an error, never a panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("webhook: {address: http://x, minimumpriority: warning}\n"))
	f.Add([]byte("outputs: {webhook: {a: {address: http://x, filter: {tags: [a, b]}}}}\n"))
	f.Add([]byte("journal: {max_bytes: 1GiB, segment_bytes: 1MiB}\nkafka: {hostport: 'h:1', topic: t}\n"))
	f.Add([]byte("outputs: [1, 2]\n"))
	f.Add([]byte("grpc: 7\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte) {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p)
		if err == nil && len(c.Outputs) == 0 {
			t.Fatal("a valid config without outputs")
		}
	})
}
