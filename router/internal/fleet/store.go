package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/harrier-security/harrier/proto/durablefile"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Store keeps every revision of the central ruleset, one file per revision
// (NNNNNNNNNNNNNNNNNNNN.pb, the Ruleset message). Revisions only ever
// append: a rollback stores a new revision, so the history is the audit
// trail of what the fleet ran. The newest revision is the current one.
type Store struct {
	dir  string
	mu   sync.Mutex
	revs []*harrierv1.Ruleset // oldest first
}

// OpenStore reads the revisions stored in dir (created when missing).
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("rulesets: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("rulesets: %w", err)
	}
	s := &Store{dir: dir}
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".pb")
		if !ok {
			continue
		}
		if _, err := strconv.ParseUint(base, 10, 64); err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("rulesets: %w", err)
		}
		rs := &harrierv1.Ruleset{}
		if err := proto.Unmarshal(data, rs); err != nil {
			return nil, fmt.Errorf("rulesets: %s: %w", e.Name(), err)
		}
		s.revs = append(s.revs, rs)
	}
	slices.SortFunc(s.revs, func(a, b *harrierv1.Ruleset) int { return int(a.GetRevision()) - int(b.GetRevision()) })
	return s, nil
}

// Current is the newest revision (nil before the first push).
func (s *Store) Current() *harrierv1.Ruleset {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.revs) == 0 {
		return nil
	}
	return s.revs[len(s.revs)-1]
}

// Get returns revision rev (nil when unknown).
func (s *Store) Get(rev uint64) *harrierv1.Ruleset {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.revs {
		if r.GetRevision() == rev {
			return r
		}
	}
	return nil
}

// History lists the revisions, newest first.
func (s *Store) History() []*harrierv1.Ruleset {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.revs)
	slices.Reverse(out)
	return out
}

// Add numbers rs as the next revision and stores it durably (write to a
// temporary file, fsync, rename, fsync the directory) before it counts.
func (s *Store) Add(rs *harrierv1.Ruleset) (*harrierv1.Ruleset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs = proto.CloneOf(rs)
	rs.Revision = 1
	if n := len(s.revs); n > 0 {
		rs.Revision = s.revs[n-1].GetRevision() + 1
	}
	data, err := proto.Marshal(rs)
	if err != nil {
		return nil, fmt.Errorf("rulesets: %w", err)
	}
	name := filepath.Join(s.dir, fmt.Sprintf("%020d.pb", rs.Revision))
	if err := durablefile.Write(name, data, 0o640); err != nil {
		return nil, fmt.Errorf("rulesets: %w", err)
	}
	s.revs = append(s.revs, rs)
	return rs, nil
}
