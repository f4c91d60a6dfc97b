package durablefile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name    string
		file    string
		data    string
		perm    os.FileMode
		wantErr bool
	}{
		{"new file", "a", "one", 0o600, false},
		{"replaces", "a", "two", 0o600, false},
		{"other mode", "b", "x", 0o640, false},
		{"missing directory", "no/such/c", "x", 0o600, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.file)
			err := Write(p, []byte(c.data), c.perm)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if c.wantErr {
				return
			}
			got, err := os.ReadFile(p)
			if err != nil || string(got) != c.data {
				t.Fatalf("content %q (%v), want %q", got, err, c.data)
			}
			if st, _ := os.Stat(p); st.Mode().Perm() != c.perm {
				t.Fatalf("mode %v, want %v", st.Mode().Perm(), c.perm)
			}
			if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
				t.Fatalf("temporary file left: %v", err)
			}
		})
	}
}
