package charts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"

	"github.com/scilifelab/restaurants/internal/testkit/redistest"
)

const keysSecret = testRelease + "-keys"

// secretEnv finds the relay's variable name and the Secret it comes from.
func secretEnv(t *testing.T, c corev1.Container, name string) *corev1.SecretKeySelector {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Fatalf("%s = %+v, want it from a Secret", name, e)
			}
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
}

func TestInChartValkeyIsLocked(t *testing.T) {
	r := render(t, map[string]any{"valkey": map[string]any{"enabled": true}})
	sec := r.secrets[valkeyName]
	if sec == nil {
		t.Fatalf("no Secret %s", valkeyName)
	}
	pw, acl := string(sec.Data["password"]), string(sec.Data["users.acl"])
	if len(pw) < 32 {
		t.Fatalf("generated password %q is too short", pw)
	}
	sum := sha256.Sum256([]byte(pw))
	if !strings.Contains(acl, "user default off\n") || !strings.Contains(acl, "user restaurants on #"+hex.EncodeToString(sum[:])+" ") ||
		strings.Contains(acl, pw) {
		t.Fatalf("user list %q: want the default user off and the relays' user with the password's hash (and never the password)", acl)
	}
	if ref := secretEnv(t, relayContainer(t, r), "RESTAURANTS_SHARED_CACHE_PASSWORD"); ref == nil || ref.Name != valkeyName || ref.Key != "password" {
		t.Fatalf("relay password from %+v, want %s/password", ref, valkeyName)
	}
	d := r.deployments[valkeyName]
	if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--aclfile /etc/valkey/users.acl") {
		t.Fatalf("engine args %q lack the user list", args)
	}
	if d.Spec.Template.Annotations["checksum/users"] == "" {
		t.Error("the engine's pods are not restarted when the user list changes")
	}
	np := r.networkPolicies[valkeyName]
	if np == nil || len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 ||
		np.Spec.Ingress[0].From[0].PodSelector == nil || np.Spec.Ingress[0].From[0].PodSelector.MatchLabels["app.kubernetes.io/component"] != "relay" {
		t.Fatalf("engine NetworkPolicy %+v, want its port from the release's relay pods only", np)
	}

	// A password of one's own: the relays read it, the user list is not
	// made without it (helm template cannot look it up).
	err := renderError(t, map[string]any{"valkey": map[string]any{"enabled": true, "existingSecret": "engine-pw"}})
	if !strings.Contains(err.Error(), `valkey.existingSecret: Secret "engine-pw"`) {
		t.Fatalf("existingSecret missing: %v", err)
	}
}

func TestRelayKeysComeFromSecrets(t *testing.T) {
	r := render(t, map[string]any{"valkey": map[string]any{"enabled": true}})
	keys := r.secrets[keysSecret]
	if keys == nil || len(keys.Data["signing-key"]) < 32 || len(keys.Data["admin-token"]) < 32 {
		t.Fatalf("Secret %s = %+v, want a signing key and an admin token of 32 bytes or more", keysSecret, keys)
	}
	if _, ok := keys.Data["signing-key-previous"]; ok {
		t.Error("a previous signing key made up outside a rotation")
	}
	c := relayContainer(t, r)
	for name, key := range map[string]string{"RESTAURANTS_SHARED_CACHE_SIGNING_KEY": "signing-key", "RESTAURANTS_ADMIN_TOKEN": "admin-token"} {
		if ref := secretEnv(t, c, name); ref == nil || ref.Name != keysSecret || ref.Key != key {
			t.Errorf("%s from %+v, want %s/%s", name, ref, keysSecret, key)
		}
	}
	if ref := secretEnv(t, c, "RESTAURANTS_SHARED_CACHE_SIGNING_KEY_PREVIOUS"); ref == nil || ref.Optional == nil || !*ref.Optional {
		t.Errorf("previous signing key from %+v, want an optional key", ref)
	}

	own := render(t, map[string]any{
		"sharedCache": map[string]any{"url": "rediss://cache.example.test:6380",
			"signingKey": map[string]any{"existingSecret": "sign", "existingSecretKey": "now", "previousSecretKey": "before"},
			"tls":        map[string]any{"caSecret": "cache-ca", "caSecretKey": "root.pem"}},
		"admin": map[string]any{"existingSecret": "ops", "existingSecretKey": "bearer"},
	})
	if _, ok := own.secrets[keysSecret]; ok {
		t.Errorf("Secret %s generated although every key has an existingSecret", keysSecret)
	}
	c = relayContainer(t, own)
	for name, want := range map[string][2]string{
		"RESTAURANTS_SHARED_CACHE_SIGNING_KEY":          {"sign", "now"},
		"RESTAURANTS_SHARED_CACHE_SIGNING_KEY_PREVIOUS": {"sign", "before"},
		"RESTAURANTS_ADMIN_TOKEN":                       {"ops", "bearer"},
	} {
		if ref := secretEnv(t, c, name); ref == nil || ref.Name != want[0] || ref.Key != want[1] {
			t.Errorf("%s from %+v, want %s/%s", name, ref, want[0], want[1])
		}
	}
	if got := env(c)["RESTAURANTS_SHARED_CACHE_CA"]; got != "/etc/restaurants/shared-cache-ca/ca.crt" {
		t.Errorf("RESTAURANTS_SHARED_CACHE_CA = %q", got)
	}
	spec := own.deployments[testRelease].Spec.Template.Spec
	if len(spec.Volumes) != 1 || spec.Volumes[0].Secret == nil || spec.Volumes[0].Secret.SecretName != "cache-ca" ||
		spec.Volumes[0].Secret.Items[0].Key != "root.pem" || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/etc/restaurants/shared-cache-ca" {
		t.Errorf("CA volume %+v mounts %+v", spec.Volumes, c.VolumeMounts)
	}

	// No token asked for: none given, the admin port's pprof and purge API
	// answer loopback peers only.
	noToken := render(t, map[string]any{"admin": map[string]any{"generateToken": false}})
	if _, ok := noToken.secrets[keysSecret]; ok {
		t.Errorf("Secret %s rendered with admin.generateToken=false and no shared tier", keysSecret)
	}
	if _, ok := env(relayContainer(t, noToken))["RESTAURANTS_ADMIN_TOKEN"]; ok {
		t.Error("RESTAURANTS_ADMIN_TOKEN set with admin.generateToken=false")
	}

	// Without a shared tier there is no signing key to give.
	none := render(t, nil)
	if k := none.secrets[keysSecret]; k == nil || k.Data["signing-key"] != nil {
		t.Errorf("without a shared tier: Secret %+v, want the admin token alone", k)
	}
}

// TestValkeyUserListOnARealEngine runs redis-server with the user list the
// chart renders: the relays' user can do what the relay does, on its keys
// and channel, and nothing else.
func TestValkeyUserListOnARealEngine(t *testing.T) {
	r := render(t, map[string]any{"valkey": map[string]any{"enabled": true}})
	sec := r.secrets[valkeyName]
	acl := filepath.Join(t.TempDir(), "users.acl")
	if err := os.WriteFile(acl, sec.Data["users.acl"], 0o600); err != nil {
		t.Fatal(err)
	}
	s := redistest.StartWith(t, redistest.Options{Args: []string{"--aclfile", acl}})
	if reply, _ := s.Do("PING"); !strings.HasPrefix(reply, "-NOAUTH") {
		t.Fatalf("PING without the password = %q, want NOAUTH (the default user off)", reply)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// What the relay's client does: HELLO 3 with AUTH, as the URL's user.
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Username: "restaurants", Password: string(sec.Data["password"]), DisableIdentity: true})
	defer c.Close()
	const ns = "restaurants:0123abcd:"
	ps := c.Subscribe(ctx, ns+"filled")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	// Every command the tier's scripts call, as a script calls them.
	script := redis.NewScript(`
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 's', '200', 'at', t[1], 'b', '{}')
redis.call('HINCRBY', KEYS[2], 'n', 1)
redis.call('PEXPIRE', KEYS[1], 60000)
redis.call('SET', KEYS[3], 'lease', 'PX', 1000)
local l = redis.call('PTTL', KEYS[3])
local v = redis.call('GET', KEYS[3])
local a = redis.call('HGET', KEYS[1], 'at')
local m = redis.call('HMGET', KEYS[1], 's', 'b')
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[1], 'k')
return m[1]`)
	keys := []string{ns + "e:restaurant/dufva", ns + "f:restaurant/dufva", ns + "l:restaurant/dufva"}
	if v, err := script.Run(ctx, c, keys, ns+"filled").Text(); err != nil || v != "200" {
		t.Fatalf("the tier's script: %q, %v", v, err)
	}
	if err := script.Load(ctx, c).Err(); err != nil {
		t.Fatalf("SCRIPT LOAD: %v", err)
	}
	if err := c.HMGet(ctx, keys[0], "s", "at", "b").Err(); err != nil {
		t.Fatalf("HMGET: %v", err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	// A purge: SCAN MATCH over the tier's entries, UNLINK, PUBLISH.
	found, _, err := c.Scan(ctx, 0, ns+"e:*", 100).Result()
	if err != nil || len(found) == 0 {
		t.Fatalf("SCAN MATCH: %v, %v", found, err)
	}
	if err := c.Unlink(ctx, found...).Err(); err != nil {
		t.Fatalf("UNLINK: %v", err)
	}
	if err := c.Publish(ctx, ns+"purge", "*").Err(); err != nil {
		t.Fatalf("PUBLISH on the purge channel: %v", err)
	}
	if m, err := ps.ReceiveMessage(ctx); err != nil || m.Payload != "k" {
		t.Fatalf("the published wake-up: %+v, %v", m, err)
	}

	denied := [][]any{
		{"FLUSHALL"}, {"FLUSHDB"}, {"CONFIG", "GET", "maxmemory"}, {"CONFIG", "SET", "maxmemory", "1"},
		{"DEBUG", "SLEEP", "0"}, {"KEYS", "*"}, {"MODULE", "LIST"}, {"ACL", "LIST"},
		{"SHUTDOWN"}, {"SAVE"}, {"REPLICAOF", "127.0.0.1", "1"}, {"MONITOR"}, {"CLIENT", "LIST"},
		{"SET", "other-app:key", "x"}, {"GET", "other-app:key"}, {"PUBLISH", "other-app", "x"},
	}
	for _, cmd := range denied {
		// DEBUG is refused before the user's rights are looked at.
		err := c.Do(ctx, cmd...).Err()
		if err == nil || !(strings.HasPrefix(err.Error(), "NOPERM") || strings.Contains(err.Error(), "not allowed")) {
			t.Errorf("%v = %v, want it refused", cmd, err)
		}
	}
	if err := redis.NewScript(`return redis.call('FLUSHALL')`).Run(ctx, c, nil).Err(); err == nil || !strings.Contains(err.Error(), "can't run this command") {
		t.Errorf("FLUSHALL from a script = %v, want it refused", err)
	}
	if slices.Contains(strings.Fields(string(sec.Data["users.acl"])), "+@all") {
		t.Error("the relays' user has every command")
	}
}

// testSigningKey signs the shared tier's entries of the relays the tests run.
const testSigningKey = "test-signing-key-of-at-least-32-bytes"
