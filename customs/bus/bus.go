// Package bus is Clearway's Kafka plumbing: the topics, their payloads, a
// producer that only reports success once every in-sync replica has the
// data, and an at-least-once consumer loop (fetch → process → commit).
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Topics. Every message about one declaration is keyed by its id, so one
// partition sees them in order.
const (
	TopicDeclarations = "clearway.declarations.v1" // accepted declarations, from the gateway
	TopicReceipts     = "clearway.receipts.v1"     // what was sent to customs, what customs answered, when parcels arrived
	TopicDeadLetter   = "clearway.deadletter.v1"   // messages no consumer could process, with the reason
	TopicAudit        = "clearway.audit.v1"        // who did what through the API, when, from where
	TopicStatus       = "clearway.status.v1"       // every applied status change: webhooks and live streams read it
	TopicDocuments    = "clearway.documents.v1"    // documents to send besides inventories: consolidations, arrivals, departures, cancels, summaries
)

// Topics lists every topic Clearway uses.
var Topics = []string{TopicDeclarations, TopicReceipts, TopicDeadLetter, TopicAudit, TopicStatus, TopicDocuments}

// Config is how Clearway reaches Kafka.
type Config struct {
	Brokers           []string // CLEARWAY_KAFKA_BROKERS, comma-separated host:port
	Partitions        int      // for topics Clearway creates; caps how many consumers share the work
	ReplicationFactor int      // 1 on a single local broker; 3 in production
	ClientID          string
	// TopicPrefix namespaces topics and consumer groups (CLEARWAY_KAFKA_TOPIC_PREFIX),
	// so tests, or two environments, can share one cluster.
	TopicPrefix string
	// Retention of the declarations and receipts topics
	// (CLEARWAY_KAFKA_RETENTION). Redis is rebuilt from them, so they must
	// outlive every declaration Redis keeps: clearance time plus Redis
	// retention.
	Retention time.Duration
}

// Validate checks the config once at start-up.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("CLEARWAY_KAFKA_BROKERS: no broker address")
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("CLEARWAY_KAFKA_BROKERS: %q is not host:port", b)
		}
	}
	if c.Partitions < 1 || c.ReplicationFactor < 1 {
		return errors.New("CLEARWAY_KAFKA_PARTITIONS and CLEARWAY_KAFKA_REPLICATION must be at least 1")
	}
	return nil
}

// How long the topics that are not rebuilt from keep their messages.
const (
	statusRetention     = 7 * 24 * time.Hour   // webhooks and streams read it as it comes
	deadLetterRetention = 30 * 24 * time.Hour  // time to look at what failed, and replay it
	auditRetention      = 400 * 24 * time.Hour // a year of who did what, and a margin
)

// TopicSettings are the topics Clearway creates: every one with the
// configured partitions and replication, min.insync.replicas of 2 when
// replicated (with acks=all a write then survives the loss of any one
// broker), deletion by time (no topic is compacted: each holds events, not
// the latest state of a key), and retention by what reads it. The
// declarations and receipts topics keep what Redis is rebuilt from.
func TopicSettings(cfg Config) []kafka.TopicConfig {
	retention := map[string]time.Duration{
		TopicDeclarations: cfg.Retention, TopicReceipts: cfg.Retention, TopicDocuments: cfg.Retention,
		TopicStatus: statusRetention, TopicDeadLetter: deadLetterRetention, TopicAudit: auditRetention,
	}
	specs := make([]kafka.TopicConfig, 0, len(Topics))
	for _, t := range Topics {
		spec := kafka.TopicConfig{Topic: cfg.TopicPrefix + t, NumPartitions: cfg.Partitions, ReplicationFactor: cfg.ReplicationFactor,
			ConfigEntries: []kafka.ConfigEntry{
				{ConfigName: "min.insync.replicas", ConfigValue: strconv.Itoa(min(cfg.ReplicationFactor, 2))},
				{ConfigName: "cleanup.policy", ConfigValue: "delete"},
			}}
		if d := retention[t]; d > 0 {
			spec.ConfigEntries = append(spec.ConfigEntries, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(d.Milliseconds(), 10)})
		}
		specs = append(specs, spec)
	}
	return specs
}

// EnsureTopics creates Clearway's topics if they are missing. Creation is
// explicit because broker auto-creation would pick its own partition count
// and replication.
func EnsureTopics(ctx context.Context, cfg Config) error {
	var conn *kafka.Conn
	var err error
	for _, b := range cfg.Brokers {
		if conn, err = (&kafka.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", b); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("bus: dial kafka: %w", err)
	}
	defer conn.Close()
	controller, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("bus: find controller: %w", err)
	}
	cc, err := (&kafka.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", net.JoinHostPort(controller.Host, strconv.Itoa(controller.Port)))
	if err != nil {
		return fmt.Errorf("bus: dial controller: %w", err)
	}
	defer cc.Close()
	specs := TopicSettings(cfg)
	if err := cc.CreateTopics(specs...); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("bus: create topics: %w", err)
	}
	// A new topic's partitions take a moment to get leaders; producing
	// before that fails, so wait here rather than in the first request.
	for {
		if err := topicsLed(conn, cfg); err == nil {
			return nil
		} else if ctx.Err() != nil {
			return fmt.Errorf("bus: topics not ready: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// topicsLed checks that every partition of every topic has a leader.
func topicsLed(conn *kafka.Conn, cfg Config) error {
	for _, t := range Topics {
		parts, err := conn.ReadPartitions(cfg.TopicPrefix + t)
		if err != nil {
			return err
		}
		if len(parts) == 0 {
			return fmt.Errorf("%s has no partitions yet", t)
		}
		for _, p := range parts {
			if p.Leader.Host == "" {
				return fmt.Errorf("%s[%d] has no leader yet", t, p.ID)
			}
		}
	}
	return nil
}

// Producer writes to Clearway's topics (under the configured prefix).
type Producer struct {
	w      *kafka.Writer
	prefix string
}

// WriteMessages writes msgs, each to its Topic, and returns once every
// in-sync replica has them.
func (p *Producer) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if p.prefix != "" {
		msgs = slices.Clone(msgs)
		for i := range msgs {
			msgs[i].Topic = p.prefix + msgs[i].Topic
		}
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		failures.WithLabelValues(msgs[0].Topic, "produce").Inc()
		return err
	}
	for _, m := range msgs {
		produced.WithLabelValues(m.Topic).Inc()
	}
	return nil
}

func (p *Producer) Close() error { return p.w.Close() }

// NewAuditProducer writes asynchronously in batches: the audit trail must
// not add a Kafka round trip to every request. Failures are reported to
// failed.
func NewAuditProducer(cfg Config, failed func(error)) *Producer {
	p := NewProducer(cfg)
	p.w.Async = true
	p.w.BatchTimeout = 50 * time.Millisecond
	p.w.Completion = func(_ []kafka.Message, err error) {
		if err != nil {
			failed(err)
		}
	}
	return p
}

// NewProducer is the one producer configuration Clearway uses.
func NewProducer(cfg Config) *Producer {
	return &Producer{prefix: cfg.TopicPrefix, w: &kafka.Writer{
		Addr:     kafka.TCP(cfg.Brokers...),
		Balancer: &kafka.Hash{}, // by key: a declaration's messages stay in one partition, in order
		// A 202 promises the parcel is not lost: wait for every in-sync
		// replica (the zero value of a Writer literal waits for none).
		RequiredAcks: kafka.RequireAll,
		// WriteMessages is called with a whole manifest at once and waits
		// for it; a partial batch must not sit for the default 1 s.
		BatchTimeout: 2 * time.Millisecond,
		BatchSize:    1000,
		MaxAttempts:  3,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
		// Topics are created explicitly by EnsureTopics.
		AllowAutoTopicCreation: false,
		Transport:              &kafka.Transport{ClientID: cfg.ClientID, DialTimeout: 5 * time.Second},
	}}
}

// NewReader joins group on topic. A new group starts at the earliest
// offset, so nothing produced before a consumer first started is skipped.
func NewReader(cfg Config, topic, group string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Brokers,
		Topic:             cfg.TopicPrefix + topic,
		GroupID:           cfg.TopicPrefix + group,
		StartOffset:       kafka.FirstOffset,
		MinBytes:          1,
		MaxBytes:          16 << 20,
		MaxWait:           250 * time.Millisecond,
		CommitInterval:    0, // commit synchronously, after processing
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    500 * time.Millisecond,
		Dialer:            &kafka.Dialer{ClientID: cfg.ClientID, Timeout: 5 * time.Second},
		Logger:            nil,
		ErrorLogger:       kafka.LoggerFunc(func(msg string, args ...any) { slog.Debug(fmt.Sprintf(msg, args...), "topic", topic) }),
	})
}

// ParseBrokers splits a comma-separated broker list.
func ParseBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}
