package server

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's own; the log registers its append, batch and
// fsync metrics itself.
type metrics struct {
	requests *prometheus.CounterVec   // route, code
	duration *prometheus.HistogramVec // route
	proofs   *prometheus.CounterVec   // kind: inclusion, consistency, receipt
	errors   *prometheus.CounterVec   // code: the stable API error code
	panics   prometheus.Counter
	// inclusionProofs is proofs{kind="inclusion"}, resolved once rather
	// than on every request.
	inclusionProofs prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clawnet_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clawnet_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"route"}),
		proofs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clawnet_proof_requests_total",
			Help: "Proofs served, by kind (inclusion, consistency, receipt).",
		}, []string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clawnet_http_errors_total",
			Help: "Error responses by stable API error code.",
		}, []string{"code"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clawnet_http_panics_total",
			Help: "Panics recovered in HTTP handlers.",
		}),
	}
	m.inclusionProofs = m.proofs.WithLabelValues("inclusion")
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.proofs, m.errors, m.panics} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
