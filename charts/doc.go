// Package charts holds the Go tests of the Helm chart beside it: they render
// the chart with Helm's SDK and check every object, the values schema, the
// plain manifests, the alerting rules (with promtool and a real Prometheus)
// and the chart's README. The package has no code of its own; .helmignore
// leaves its files out of the chart.
package charts
