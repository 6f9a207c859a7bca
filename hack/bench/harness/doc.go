// Package harness runs the comparison behind `make bench`: the relay, nginx's
// proxy cache and a bare net/http handler, each in front of its own stand-in
// upstream on 127.0.0.1, loaded alternately with the same load, and reported
// as tables with ratios against nginx and an HTML page of charts. Its
// scenarios also protect the upstream (flood, hang, a cluster of relays on a
// shared redis-server) and sweep connections and keys. hack/bench is the
// command around it.
package harness
