// Package deploy holds no code: its directory holds the files a team
// deploys StreamHub with (compose.yaml with its NATS, Prometheus and
// Grafana files, and k8s/), and its tests check them without a running
// cluster: the Kubernetes manifests decoded strictly into the API types,
// the alert rules with Prometheus's own parser, every PromQL query's
// metric names against what a real hub exports, and every hub flag and
// STREAMHUB_* variable against hub serve -h.
package deploy
