package bus

import "github.com/prometheus/client_golang/prometheus"

// Pipeline metrics, shared by every part a process runs; the process
// registers them once (Collectors) and serves them at /metrics. Topic and
// group labels are the names Kafka knows, CLEARWAY_KAFKA_TOPIC_PREFIX
// included.
var (
	produced = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clearway_kafka_produced_total",
		Help: "Messages Kafka acknowledged, by topic."}, []string{"topic"})
	consumed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clearway_kafka_consumed_total",
		Help: "Messages processed and committed, by topic and consumer group."}, []string{"topic", "group"})
	consumerLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "clearway_kafka_consumer_lag",
		Help: "Messages a consumer is behind the end of its partitions, by topic and consumer group."}, []string{"topic", "group"})
	failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clearway_pipeline_failures_total",
		Help: "Pipeline failures by topic and reason: fetch, handle (the batch is retried), commit, produce, dead_letter."}, []string{"topic", "reason"})

	// ReceiptsReceived counts customs receipts by returnStatus.
	ReceiptsReceived = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clearway_customs_receipts_total",
		Help: "Receipts customs returned, by returnStatus."}, []string{"return_status"})
	// StatusChanges counts status changes applied to the store, by status.
	StatusChanges = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clearway_status_changes_total",
		Help: "Declaration status changes applied (redeliveries and stale receipts excluded), by status."}, []string{"status"})
)

// Collectors are the pipeline metrics, to register in a process's registry.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{produced, consumed, consumerLag, failures, ReceiptsReceived, StatusChanges}
}
