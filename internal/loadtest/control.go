package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// control is the command line's -control listener: while a run lasts it
// serves the run's progress (GET /progress) and ends it early on request
// (POST /stop), so that a driver can end a load once what it measures is
// over (a rollout, a recovery) instead of waiting for the whole duration.
// The run is still bounded by its duration; the report of a stopped run
// covers what was done, and the requests cut short are not errors.
type control struct {
	ln       net.Listener
	srv      *http.Server
	cancel   context.CancelFunc
	progress atomic.Pointer[Progress]
	stopped  atomic.Bool
	served   chan struct{}
	once     sync.Once
}

// controlStatus is the JSON body of /progress and /stop.
type controlStatus struct {
	ElapsedSeconds    float64 `json:"elapsed_seconds"`
	Requests          int64   `json:"requests"`
	Errors            int64   `json:"errors"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	Stopping          bool    `json:"stopping"`
}

// startControl listens on addr and returns the control and the run's
// context, which POST /stop cancels.
func startControl(ctx context.Context, addr string) (*control, context.Context, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("control listener: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	c := &control{ln: ln, cancel: cancel, served: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /progress", func(w http.ResponseWriter, _ *http.Request) {
		c.write(w, http.StatusOK)
	})
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, _ *http.Request) {
		c.stopped.Store(true)
		c.cancel()
		c.write(w, http.StatusAccepted)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		code, msg := http.StatusNotFound, "no such control endpoint (want GET /progress or POST /stop)"
		switch r.URL.Path {
		case "/progress":
			code, msg = http.StatusMethodNotAllowed, r.Method+" /progress: use GET"
			w.Header().Set("Allow", "GET, HEAD")
		case "/stop":
			code, msg = http.StatusMethodNotAllowed, r.Method+" /stop: use POST"
			w.Header().Set("Allow", "POST")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
	})
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(c.served)
		_ = c.srv.Serve(ln)
	}()
	return c, runCtx, nil
}

// URL is the control's base URL.
func (c *control) URL() string { return "http://" + c.ln.Addr().String() }

// set keeps the latest progress for /progress.
func (c *control) set(p Progress) { c.progress.Store(&p) }

func (c *control) write(w http.ResponseWriter, code int) {
	var st controlStatus
	if p := c.progress.Load(); p != nil {
		st = controlStatus{ElapsedSeconds: p.Elapsed.Seconds(), Requests: p.Requests, Errors: p.Errors, RequestsPerSecond: p.RequestsPerSecond}
	}
	st.Stopping = c.stopped.Load()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(st)
}

// close stops serving once the run is over.
func (c *control) close() error {
	var err error
	c.once.Do(func() {
		c.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err = c.srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			err = c.srv.Close()
		}
		<-c.served
	})
	return err
}
