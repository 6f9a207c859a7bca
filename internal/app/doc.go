// Package app wires the relay together: its settings, its two listeners and
// its lifecycle from start to a graceful, drained shutdown.
package app
