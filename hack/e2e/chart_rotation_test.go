//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// chartKeysSecret is the chart's generated Secret of the relays' keys.
const chartKeysSecret = chartRelease + "-keys"

// rotation rotates the shared tier's signing key and then the engine's
// password under load, the way charts/README.md tells an operator to, and
// counts the failed requests (none may fail: the job's report fails the
// test on any). First the signing key: the current key goes to
// signing-key-previous, a new one to signing-key, and a rolling restart;
// the new relays sign with the new key and must reject no entry (they
// still read the old key's). Then the password: the engine's Secret is
// deleted and helm upgrade makes a new one, which restarts the engine with
// the new user list, the previous signing key is dropped, and a second
// rolling restart logs every relay in with the new password.
func (s *chartStages) rotation(ctx context.Context) string {
	t, r, cs, ns, cfg := s.t, s.r, s.cs, s.ns, s.cfg
	t.Helper()
	secrets := cs.CoreV1().Secrets(ns)
	keys, err := secrets.Get(ctx, chartKeysSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the relays' keys Secret %s: %v", chartKeysSecret, err)
	}
	oldKey := keys.Data["signing-key"]
	if len(oldKey) == 0 {
		t.Fatalf("the Secret %s holds no signing-key", chartKeysSecret)
	}
	engine, err := secrets.Get(ctx, chartValkey, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the engine's Secret %s: %v", chartValkey, err)
	}
	oldPassword := string(engine.Data["password"])

	job := s.jobs.start(ctx, "loadtest-rotation", cfg.rotationLoad)
	job.waitFlowing(ctx)
	callsBefore, err := chartStandInRequests(ctx, cs, ns, chartStandIn)
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()

	// The signing key.
	newKey := make([]byte, 32)
	if _, err := rand.Read(newKey); err != nil {
		t.Fatal(err)
	}
	keys.Data["signing-key-previous"] = oldKey
	keys.Data["signing-key"] = []byte(hex.EncodeToString(newKey))
	if _, err := secrets.Update(ctx, keys, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("putting a new signing key into %s: %v", chartKeysSecret, err)
	}
	job.mark("new signing key")
	keyRestart := s.restartRelays(ctx, "signing key")
	job.mark("relays on the new key")
	keyDone := time.Since(begin)
	tiers := s.waitTierUp(ctx, "after the signing key's rotation")
	rejected := s.tierRejectedBy(ctx)
	r.logf("signing key rotated: %d relays restarted in %s, tier up on each; entries they rejected: %v", len(tiers), keyRestart.Round(100*time.Millisecond), rejected)
	if n := sumValues(rejected); n > 0 {
		t.Fatalf("the relays restarted with the new and the previous signing key rejected %.0f entries of the tier (%v): the previous key is not read", n, rejected)
	}

	// The engine's password; the previous signing key goes with it.
	if err := secrets.Delete(ctx, chartValkey, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting the engine's Secret %s: %v", chartValkey, err)
	}
	if err := s.dropSecretKey(ctx, chartKeysSecret, "signing-key-previous"); err != nil {
		t.Fatal(err)
	}
	passwordAt := time.Now()
	out, err := s.helm.run(ctx, "upgrade", chartRelease, "./charts", "--reuse-values")
	if err != nil {
		t.Fatalf("helm upgrade for a new engine password: %v", err)
	}
	r.logf("helm upgrade %s ./charts --reuse-values:\n%s", chartRelease, chartTail(out, 4))
	job.mark("new password")
	engine, err = secrets.Get(ctx, chartValkey, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("helm upgrade made no engine Secret %s: %v", chartValkey, err)
	}
	if newPassword := string(engine.Data["password"]); newPassword == "" || newPassword == oldPassword {
		t.Fatalf("helm upgrade after deleting %s did not make a new password", chartValkey)
	}
	if _, err := chartWaitRollout(ctx, cs, ns, chartValkey, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	job.mark("engine on the new password")
	passwordRestart := s.restartRelays(ctx, "engine password")
	job.mark("relays on the new password")
	tiers = s.waitTierUp(ctx, "after the password's rotation")
	passwordDone := time.Since(passwordAt)
	rejected = s.tierRejectedBy(ctx)
	if n := sumValues(rejected); n > 0 {
		t.Fatalf("the relays on the new password and key rejected %.0f entries of the tier (%v)", n, rejected)
	}
	callsAfter, err := chartStandInRequests(ctx, cs, ns, chartStandIn)
	if err != nil {
		t.Fatal(err)
	}
	job.mustStillRun(ctx, "the rotations")
	job.stopAfter(ctx, chartLoadTail)
	rep := job.report(ctx)
	calls := callsAfter - callsBefore
	r.logf("rotations under load: signing key in %s, password in %s; %d upstream calls meanwhile", keyDone.Round(100*time.Millisecond), passwordDone.Round(100*time.Millisecond), calls)
	s.rpt.add("rotation", "the signing key and the engine's password rotated under load", rep, job.reportMarks(rep),
		fmt.Sprintf("The signing key rotated (previous key kept, rolling restart: %s) and then the engine's password (Secret deleted, helm upgrade, engine restarted, rolling restart: %s), under load: 0 failed of %d requests; %d upstream calls meanwhile.",
			keyRestart.Round(100*time.Millisecond), passwordRestart.Round(100*time.Millisecond), rep.Requests, calls))
	r.number("rotation", "signing key then engine password rotated under load: 0 failed of %d requests; the relays restarted in %s and %s; %d upstream calls meanwhile",
		rep.Requests, keyRestart.Round(100*time.Millisecond), passwordRestart.Round(100*time.Millisecond), calls)
	return fmt.Sprintf("signing key rotated (relays restarted in %s, no entry rejected), then the engine's password (new Secret, engine and relays restarted in %s, tier up on all %d relays): 0 failed of %d requests (%.0f req/s); %s",
		keyRestart.Round(100*time.Millisecond), passwordDone.Round(100*time.Millisecond), len(tiers), rep.Requests, rep.RequestsPerSecond, job.upstreamLine)
}

// restartRelays restarts the relays' rollout (chartRolloutRestart) and
// waits until no pod from before it is left; it returns how long that took.
func (s *chartStages) restartRelays(ctx context.Context, why string) time.Duration {
	t := s.t
	t.Helper()
	begin := time.Now()
	if err := chartRolloutRestart(ctx, s.cs, s.ns, chartRelay, 4*time.Minute); err != nil {
		t.Fatalf("the relays' restart for the %s: %v", why, err)
	}
	// the old pods gone, so that what follows reads only new ones
	if err := chartPoll(ctx, time.Second, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		pods, err := chartRelayPods(ctx, s.cs, s.ns, chartRelaySelector, false)
		if err != nil {
			return false, err.Error(), nil
		}
		for _, p := range pods {
			if p.CreationTimestamp.Time.Before(begin.Add(-time.Second)) {
				return false, "relay " + p.Name + " from before the restart still there", nil
			}
		}
		return true, "", nil
	}); err != nil {
		t.Fatalf("the relays' restart for the %s: %v", why, err)
	}
	return time.Since(begin)
}

// waitTierUp waits until every Ready relay reports the shared tier up.
func (s *chartStages) waitTierUp(ctx context.Context, when string) map[string]relayTier {
	var tiers map[string]relayTier
	if err := chartPoll(ctx, time.Second, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		var err error
		if tiers, err = s.relayTiers(ctx); err != nil {
			return false, err.Error(), nil
		}
		if down := tiersDown(tiers); down != "" {
			return false, down, nil
		}
		return len(tiers) > 0, "no Ready relay", nil
	}); err != nil {
		s.t.Fatalf("the relays did not use the tier %s: %v", when, err)
	}
	return tiers
}

// tierRejectedBy is restaurants_shared_cache_rejected_total of the Ready
// relays (never a forger: it is never Ready), by reason.
func (s *chartStages) tierRejectedBy(ctx context.Context) map[string]float64 {
	pods, err := chartRelayPods(ctx, s.cs, s.ns, chartRelaySelector, true)
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]float64{}
	for _, p := range pods {
		m, err := chartPodMetrics(ctx, s.cs, s.ns, p.Name, chartAdminPort)
		if err != nil {
			s.t.Fatalf("metrics of relay %s: %v", p.Name, err)
		}
		for reason, v := range m.ByLabel("restaurants_shared_cache_rejected_total", "reason") {
			out[reason] += v
		}
	}
	return out
}

// dropSecretKey removes key from the Secret name (a no-op when it holds
// none).
func (s *chartStages) dropSecretKey(ctx context.Context, name, key string) error {
	sec, err := s.cs.CoreV1().Secrets(s.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("the Secret %s: %w", name, err)
	}
	if _, ok := sec.Data[key]; !ok {
		return nil
	}
	delete(sec.Data, key)
	if _, err := s.cs.CoreV1().Secrets(s.ns).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("removing %s from the Secret %s: %w", key, name, err)
	}
	return nil
}

func sumValues(m map[string]float64) float64 {
	var n float64
	for _, v := range m {
		n += v
	}
	return n
}
