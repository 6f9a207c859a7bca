// Package loadtest is an HTTP load generator: a closed loop (a fixed number of
// keep-alive connections, each sending its next request when the previous
// answer arrived) or an open loop (requests at a fixed rate, latency measured
// from each request's intended send time, so a slow server cannot hide its
// queueing: no coordinated omission). Every run is bounded in time.
// Latencies go into an HDR histogram; the Report gives throughput,
// percentiles and the latency spectrum, status codes, transport errors and
// bytes, a timeline of the run second by second (requests, errors, p50,
// p99, max), what its probes read meanwhile (a counter or gauge of the
// system under load, such as the upstream's calls), and, when asked, what
// the relay's Prometheus metrics say happened during the run. Main is the
// loadtest command line around Run.
package loadtest
