// Package ui replaces Alertmanager's web UI when the test peer is built:
// the module zip lacks the UI's built assets (app/dist), which the original
// embeds; the peer needs only the HTTP API.
package ui

import "github.com/prometheus/common/route"

// Register serves no UI.
func Register(*route.Router) {}
