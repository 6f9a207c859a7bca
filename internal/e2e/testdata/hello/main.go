// Command hello is the e2e test workload: a static HTTP server (run with no
// arguments) that answers every request with a fixed greeting and its host
// name, and a client (-get URL) that prints one response body, for checks
// from inside the cluster. It is built with CGO_ENABLED=0 into a FROM
// scratch image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Greeting starts every answer; the test looks for it.
const Greeting = "restaurants e2e hello"

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	get := flag.String("get", "", "fetch this URL, print the body and exit (client mode)")
	flag.Parse()
	if *get != "" {
		if err := fetch(*get, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "hello:", err)
			os.Exit(1)
		}
		return
	}
	if err := serve(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

func serve(addr string) error {
	host, _ := os.Hostname()
	srv := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "%s from %s\n", Greeting, host)
		}),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("serving", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving %s: %w", addr, err)
	}
	return nil
}

// fetch retries for a short while: a Service's DNS name and endpoints can
// take a moment to appear after the pod is Ready.
func fetch(url string, w io.Writer) error {
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for range 30 {
		resp, err := client.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				_, err := w.Write(body)
				return err
			}
			last = fmt.Errorf("GET %s: status %d, %v", url, resp.StatusCode, rerr)
		} else {
			last = err
		}
		time.Sleep(time.Second)
	}
	return last
}
