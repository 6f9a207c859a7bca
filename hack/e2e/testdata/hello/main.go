// Command hello is the e2e test workload: a static HTTP server (run with no
// arguments) that answers every request with a fixed greeting and its host
// name, and a client (-get URL) that prints one response body, for checks
// from inside the cluster. With more URLs after the flags, or -lookup
// NAME, the client prints one line per URL ("GET URL => BODY") and per
// name ("LOOKUP NAME => ADDRESSES"), and fails if any of them fails. It is
// built with CGO_ENABLED=0 into a FROM scratch image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Greeting starts every answer; the test looks for it.
const Greeting = "restaurants e2e hello"

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	get := flag.String("get", "", "fetch this URL, print the body and exit (client mode)")
	var lookups []string
	flag.Func("lookup", "resolve this host name and print its addresses (repeatable; client mode)", func(s string) error {
		lookups = append(lookups, s)
		return nil
	})
	flag.Parse()
	if len(lookups) > 0 || flag.NArg() > 0 {
		urls := flag.Args()
		if *get != "" {
			urls = append([]string{*get}, urls...)
		}
		if err := checkAll(lookups, urls, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "hello:", err)
			os.Exit(1)
		}
		return
	}
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

// checkAll resolves every name and fetches every URL, printing one line
// each; it returns an error naming those that failed.
func checkAll(names, urls []string, w io.Writer) error {
	var failed []string
	for _, name := range names {
		addrs, err := lookup(name)
		if err != nil {
			fmt.Fprintf(w, "LOOKUP %s => error: %v\n", name, err)
			failed = append(failed, name)
			continue
		}
		fmt.Fprintf(w, "LOOKUP %s => %s\n", name, strings.Join(addrs, ","))
	}
	for _, url := range urls {
		var body strings.Builder
		if err := fetch(url, &body); err != nil {
			fmt.Fprintf(w, "GET %s => error: %v\n", url, err)
			failed = append(failed, url)
			continue
		}
		fmt.Fprintf(w, "GET %s => %s\n", url, strings.TrimSpace(body.String()))
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed: %s", strings.Join(failed, " "))
	}
	return nil
}

// lookup resolves name with the cluster's DNS (the pod's resolv.conf),
// retrying for a short while like fetch.
func lookup(name string) ([]string, error) {
	var last error
	for range 15 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		addrs, err := net.DefaultResolver.LookupHost(ctx, name)
		cancel()
		if err == nil && len(addrs) > 0 {
			return addrs, nil
		}
		last = err
		time.Sleep(time.Second)
	}
	return nil, last
}
