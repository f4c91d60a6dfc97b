// Package deadletter keeps the alerts that an output refused permanently,
// with the reason, until an operator replays them. Each output has its own
// append-only file of checksummed records (the journal's framing); a replay
// rewrites the file with what failed again.
package deadletter

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
)

const suffix = ".dlq"

// Store is safe for concurrent use.
type Store struct {
	dir string
	mu  sync.Mutex // serialises file access (held across a replay)
	// counts has its own lock so that /healthz and /metrics never wait for
	// a write or a replay in progress.
	cmu    sync.Mutex
	counts map[string]int // stored dead letters per output
}

// Open opens or creates the store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	s := &Store{dir: dir, counts: map[string]int{}}
	outs, err := s.Outputs()
	if err != nil {
		return nil, err
	}
	for _, o := range outs {
		ls, err := s.read(o)
		if err != nil {
			return nil, err
		}
		s.setCount(o, len(ls), false)
	}
	return s, nil
}

// Counts returns how many dead letters each output has stored.
func (s *Store) Counts() map[string]int {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

func (s *Store) path(output string) string { return filepath.Join(s.dir, output+suffix) }

func (s *Store) setCount(output string, n int, add bool) {
	s.cmu.Lock()
	if add {
		n += s.counts[output]
	}
	s.counts[output] = n
	s.cmu.Unlock()
}

// Add durably stores letters (all of one output). It gives up when ctx
// ends before the write starts; a write under way is not interrupted.
func (s *Store) Add(ctx context.Context, output string, letters []*harrierv1.DeadLetter) error {
	if len(letters) == 0 {
		return nil
	}
	var buf []byte
	for _, l := range letters {
		b, err := proto.Marshal(l)
		if err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		buf = journal.EncodeRecord(buf, l.GetTime().AsTime().UnixNano(), b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dead letters %s: %w", output, err)
	}
	f, err := os.OpenFile(s.path(output), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dead letters %s: %w", output, err)
	}
	s.setCount(output, len(letters), true)
	return nil
}

func (s *Store) read(output string) ([]*harrierv1.DeadLetter, error) {
	f, err := os.Open(s.path(output))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var out []*harrierv1.DeadLetter
	var buf []byte
	for {
		buf, _, err = journal.ReadRecord(br, buf)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			// A torn tail from a crash during Add: what precedes is intact.
			return out, nil
		}
		l := &harrierv1.DeadLetter{}
		if err := proto.Unmarshal(buf, l); err != nil {
			return out, fmt.Errorf("dead letters %s: record %d: %w", output, len(out), err)
		}
		out = append(out, l)
	}
}

// Outputs lists the outputs that have dead letters.
func (s *Store) Outputs() ([]string, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	var out []string
	for _, de := range des {
		if n := de.Name(); strings.HasSuffix(n, suffix) {
			out = append(out, strings.TrimSuffix(n, suffix))
		}
	}
	sort.Strings(out)
	return out, nil
}

// List returns up to limit dead letters of output ("" for all), oldest
// first, and how many are stored in total.
func (s *Store) List(output string, limit int) ([]*harrierv1.DeadLetter, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	outputs := []string{output}
	if output == "" {
		var err error
		if outputs, err = s.Outputs(); err != nil {
			return nil, 0, err
		}
	}
	var all []*harrierv1.DeadLetter
	for _, o := range outputs {
		ls, err := s.read(o)
		if err != nil {
			return nil, 0, err
		}
		all = append(all, ls...)
	}
	total := len(all)
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, total, nil
}

// Replay hands output's dead letters to deliver, which returns those that
// failed again; only those stay stored.
func (s *Store) Replay(output string, deliver func([]*harrierv1.DeadLetter) []*harrierv1.DeadLetter) (replayed, failed int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	letters, err := s.read(output)
	if err != nil || len(letters) == 0 {
		return 0, 0, err
	}
	again := deliver(letters)
	if err := s.rewrite(output, again); err != nil {
		return 0, 0, err
	}
	s.setCount(output, len(again), false)
	return len(letters) - len(again), len(again), nil
}

func (s *Store) rewrite(output string, letters []*harrierv1.DeadLetter) error {
	if len(letters) == 0 {
		if err := os.Remove(s.path(output)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("dead letters: %w", err)
		}
		return nil
	}
	var buf []byte
	for _, l := range letters {
		b, err := proto.Marshal(l)
		if err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		buf = journal.EncodeRecord(buf, l.GetTime().AsTime().UnixNano(), b)
	}
	tmp := s.path(output) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path(output))
	}
	if err != nil {
		return fmt.Errorf("dead letters %s: %w", output, err)
	}
	return nil
}
