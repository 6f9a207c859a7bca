// Package e2e holds the end-to-end tests that run against a real kind cluster
// (make kind-up). They are built only with the e2e build tag:
//
//	go test -tags e2e ./hack/e2e/ -run TestKindCluster -v
//
// The cluster is found by name (RESTAURANTS_KIND_NAME, default restaurants)
// through the sigs.k8s.io/kind library and checked with client-go.
package e2e
