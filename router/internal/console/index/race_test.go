//go:build race

package index

// raceOn shrinks the heavier tests: the race detector slows the SQLite
// engine (Go transpiled from C) some fiftyfold.
const raceOn = true
