package harness

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"
)

// proxies are the systems of the flood and hang scenarios: nginx (when
// present), the relay and relay B (when asked for).
func (o Options) proxies(withNginx bool) []string {
	var out []string
	if withNginx {
		out = append(out, SystemNginx)
	}
	out = append(out, SystemRelay)
	if o.RelayB != nil {
		out = append(out, SystemRelayB)
	}
	return out
}

// runGuards runs the scenarios of the upstream's protection, those of
// want: the flood of new keys, the hanging upstream and the cluster of
// relays with and without the shared tier.
func runGuards(ctx context.Context, o Options, want []string, withNginx bool, res *Results, out io.Writer) error {
	took := func(name string, since time.Time) {
		fmt.Fprintf(o.Log, "   %s took %v\n", name, time.Since(since).Round(time.Second))
	}
	if slices.Contains(want, ScenarioFlood) {
		began := time.Now()
		fr, err := runFlood(ctx, o, o.proxies(withNginx))
		if err != nil {
			return fmt.Errorf("scenario %s: %w", ScenarioFlood, err)
		}
		res.Flood = fr
		fr.writeTable(out)
		took(ScenarioFlood, began)
	}
	if slices.Contains(want, ScenarioHang) {
		began := time.Now()
		hr, err := runHang(ctx, o, o.proxies(withNginx))
		if err != nil {
			return fmt.Errorf("scenario %s: %w", ScenarioHang, err)
		}
		res.Hang = hr
		hr.writeTable(out, res.steadyP99())
		took(ScenarioHang, began)
	}
	if slices.Contains(want, ScenarioCluster) {
		began := time.Now()
		cr, err := runCluster(ctx, o)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", ScenarioCluster, err)
		}
		res.Cluster = cr
		cr.writeTable(out)
		took(ScenarioCluster, began)
	}
	return nil
}
