package config

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch calls apply with the new configuration each time the file at path
// changes and validates, and reject with the error when it does not (the
// caller keeps running its previous configuration). It watches the
// directory, so editors that replace the file (rename) and Kubernetes
// ConfigMap symlink swaps are seen too. It returns when ctx ends.
func Watch(ctx context.Context, path string, apply func(*Config), reject func(error)) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("config watch: %w", err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("config watch: %w", err)
	}
	last, _ := os.ReadFile(abs)
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			// Any change in the directory may be ours (symlink swaps rename
			// a sibling); the content comparison filters the rest.
			_ = ev
			timer = time.After(200 * time.Millisecond) // debounce editors' bursts
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			reject(fmt.Errorf("config watch: %w", err))
		case <-timer:
			timer = nil
			content, err := os.ReadFile(abs)
			if err != nil {
				reject(fmt.Errorf("config %s: %w", abs, err))
				continue
			}
			if bytes.Equal(content, last) {
				continue
			}
			last = content
			cfg, err := Load(abs)
			if err != nil {
				reject(err)
				continue
			}
			apply(cfg)
		}
	}
}
