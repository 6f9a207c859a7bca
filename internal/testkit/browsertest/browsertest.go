// Package browsertest drives a real headless Chromium (Debian's chromium
// package) from tests through the DevTools protocol (chromedp): pages are
// loaded for real, scripts run, and what the page logged or threw is kept,
// so that a test can fail on a console error as a user would see it.
package browsertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scilifelab/restaurants/internal/testkit/tooltest"
)

// Browser is one headless Chromium tab with a fresh profile, closed when
// the test ends. Its console (calls of the console API, uncaught
// exceptions, the browser's own log) is recorded from the start.
type Browser struct {
	// Ctx is the tab's chromedp context, for chromedp.Run and chromedp.Do.
	// Derive a context with a timeout from it to bound one action.
	Ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// New starts Chromium for the test. Chromium is found with tooltest (the
// test skips with an install hint, or fails under CI, when it is missing).
// It runs headless with the flags a closed network needs: no background
// networking, no component updates, no sync, no QUIC.
func New(t testing.TB) *Browser {
	t.Helper()
	bin := tooltest.Require(t, tooltest.Chromium)
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts,
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &Browser{Ctx: ctx}
	// The first action starts the browser; Console subscribes at once, so
	// nothing a page logs afterwards is lost.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// Do runs actions in the tab, bounded by timeout.
func (b *Browser) Do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.Ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	return nil
}

// Console returns the console messages so far.
func (b *Browser) Console() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), b.console...)
}

// Errors returns the console errors and uncaught exceptions so far, as
// "type: text" lines.
func (b *Browser) Errors() []string {
	var errs []string
	for _, m := range b.Console() {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			errs = append(errs, m.String())
		}
	}
	return errs
}
