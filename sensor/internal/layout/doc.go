// Package layout holds no code: its tests keep the tree true to the
// pipeline (no package imports one later in the flow) and
// docs/architecture.md true to the tree.
package layout
