// Package output is the contract between the router's delivery pipeline and
// its integrations (elasticsearch, kafka, webhook, file, stdout; one
// sub-package each). An integration only delivers a batch and classifies what
// went wrong; retries, backoff, dead letters, cursors and metrics live once in
// the delivery package, never inside an integration.
package output

import (
	"context"
	"errors"
	"fmt"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Output delivers batches of alerts to one destination.
type Output interface {
	// Name is the configured name, unique per router (e.g. "elasticsearch",
	// "webhook.soc").
	Name() string
	// Deliver sends every alert of the batch. It returns nil when all were
	// delivered, a *PartialError when only some failed, or another error when
	// the whole batch failed. Errors are retried unless marked Permanent.
	// Deliver must be idempotent per alert id: the pipeline redelivers after
	// crashes and transient failures.
	Deliver(ctx context.Context, alerts []*harrierv1.Alert) error
	// Close releases connections; Deliver is not called after Close.
	Close() error
}

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (a rejected document, an
// oversized message; over HTTP, what proto/retry classifies as permanent).
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, is Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// ItemError is the failure of one alert of a batch.
type ItemError struct {
	Index int // index into the batch passed to Deliver
	Err   error
}

// PartialError reports the alerts of a batch that failed; the others were
// delivered. Each item's Err may be Permanent.
type PartialError struct {
	Items []ItemError
}

func (e *PartialError) Error() string {
	if len(e.Items) == 0 {
		return "partial failure of 0 alerts"
	}
	return fmt.Sprintf("%d alerts failed; first (index %d): %v", len(e.Items), e.Items[0].Index, e.Items[0].Err)
}
