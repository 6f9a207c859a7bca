package sharedcache

import "time"

// maxPause bounds a cluster pause read from the engine: the relay's own
// ceiling on a 429's Retry-After.
const maxPause = time.Hour

// bound caps the wait of a claim's answer (ms, as the claim script read it
// from records anyone with the engine's password can write) to what the
// relays themselves could have set: a lease lasts at most the lease asked
// for, a back-off at most MaxBackoff, a pause at most maxPause, and an
// empty budget refills within burst/rate. A forged record can then at worst
// put a refresh off within the bounds a real one has.
func (t *Tier) bound(g Grant, ms int64, lease time.Duration) time.Duration {
	d := time.Duration(max(0, min(ms, int64(24*time.Hour/time.Millisecond)))) * time.Millisecond
	switch g {
	case Held:
		return min(d, max(lease, time.Millisecond))
	case Failing:
		return min(d, t.maxBack)
	case Paused:
		return min(d, maxPause)
	case OverBudget:
		if t.budget.Rate > 0 {
			return min(d, time.Duration(float64(t.budget.Burst+1)/t.budget.Rate*float64(time.Second)))
		}
		return 0
	default:
		return d
	}
}
