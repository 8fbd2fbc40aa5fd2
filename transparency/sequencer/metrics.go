package sequencer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the log's Prometheus collectors. They always exist (so the
// code need not check), and are registered only when a Registerer is given.
type metrics struct {
	reg           prometheus.Registerer // nil: not registered
	appends       prometheus.Counter
	appendErrors  prometheus.Counter
	batchSize     prometheus.Histogram
	commitSeconds prometheus.Histogram
	treeSize      prometheus.Gauge
	proofs        *prometheus.CounterVec
	// inclusionProofs is proofs{kind="inclusion"}, resolved once rather
	// than on every proof (the hot path of the read API).
	inclusionProofs prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		appends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clawnet_log_appends_total",
			Help: "Entries appended to the log and synced to disk.",
		}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clawnet_log_append_errors_total",
			Help: "Appends that failed (invalid entry, rejected by apply, log closed or failed); not counting callers that gave up.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clawnet_log_batch_size",
			Help:    "Entries per committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8), // 1 .. 16384
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clawnet_log_commit_seconds",
			Help:    "Time to commit and fsync one batch.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 14), // 50µs .. 0.4s
		}),
		treeSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clawnet_log_tree_size",
			Help: "Committed tree size of the log.",
		}),
		proofs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clawnet_log_proofs_total",
			Help: "Proofs built, by kind (inclusion, consistency).",
		}, []string{"kind"}),
	}
	m.inclusionProofs = m.proofs.WithLabelValues("inclusion")
	if reg == nil {
		return m, nil
	}
	var registered []prometheus.Collector
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, r := range registered {
				reg.Unregister(r)
			}
			return nil, err
		}
		registered = append(registered, c)
	}
	m.reg = reg
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.appends, m.appendErrors, m.batchSize, m.commitSeconds, m.treeSize, m.proofs}
}

// unregister removes the collectors so that the log can be opened again
// with the same Registerer.
func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
	m.reg = nil
}
