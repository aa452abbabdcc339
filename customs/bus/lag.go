package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// GroupLag is how many messages of topic the consumer group has not yet
// committed: the end of each partition less the group's committed offset
// (the whole partition when it has committed nothing).
func GroupLag(ctx context.Context, cfg Config, group, topic string) (int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 5 * time.Second}
	name := cfg.TopicPrefix + topic
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{name}})
	if err != nil {
		return 0, fmt.Errorf("bus: metadata of %s: %w", name, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		return 0, fmt.Errorf("bus: no topic %s", name)
	}
	var parts []int
	var ends, starts []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		parts = append(parts, p.ID)
		ends = append(ends, kafka.LastOffsetOf(p.ID))
		starts = append(starts, kafka.FirstOffsetOf(p.ID))
	}
	last, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{name: ends}})
	if err != nil {
		return 0, fmt.Errorf("bus: end offsets of %s: %w", name, err)
	}
	first, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{name: starts}})
	if err != nil {
		return 0, fmt.Errorf("bus: start offsets of %s: %w", name, err)
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: cfg.TopicPrefix + group, Topics: map[string][]int{name: parts}})
	if err != nil {
		return 0, fmt.Errorf("bus: offsets of group %s: %w", group, err)
	}
	end, start := map[int]int64{}, map[int]int64{}
	for _, p := range last.Topics[name] {
		end[p.Partition] = p.LastOffset
	}
	for _, p := range first.Topics[name] {
		start[p.Partition] = p.FirstOffset
	}
	var lag int64
	for _, p := range committed.Topics[name] {
		from := p.CommittedOffset
		if from < start[p.Partition] { // nothing committed (-1), or before what is kept
			from = start[p.Partition]
		}
		lag += max(end[p.Partition]-from, 0)
	}
	return lag, nil
}

// Consumption is a consumer group reading a topic.
type Consumption struct{ Group, Topic string }

// LagWatch measures the lag of consumer groups every interval, exposes it
// as clearway_kafka_consumer_lag, and tells whether every group has caught
// up (come within CaughtUpLag of the end) since the process started.
type LagWatch struct {
	cfg      Config
	watched  []Consumption
	log      *slog.Logger
	mu       sync.Mutex
	caughtUp bool
}

// CaughtUpLag is how far behind a consumer group may be and count as
// caught up: about a second of work.
const CaughtUpLag = 1000

func NewLagWatch(cfg Config, log *slog.Logger, watched ...Consumption) *LagWatch {
	return &LagWatch{cfg: cfg, watched: watched, log: log}
}

// Run measures until ctx ends.
func (w *LagWatch) Run(ctx context.Context, interval time.Duration) error {
	for {
		w.measure(ctx)
		if !Sleep(ctx, interval) {
			return nil
		}
	}
}

func (w *LagWatch) measure(ctx context.Context) {
	all := true
	for _, c := range w.watched {
		lag, err := GroupLag(ctx, w.cfg, c.Group, c.Topic)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("cannot measure consumer lag", "group", c.Group, "topic", c.Topic, "err", err)
			}
			all = false
			continue
		}
		consumerLag.WithLabelValues(w.cfg.TopicPrefix+c.Topic, w.cfg.TopicPrefix+c.Group).Set(float64(lag))
		all = all && lag <= CaughtUpLag
	}
	if all {
		w.mu.Lock()
		w.caughtUp = true
		w.mu.Unlock()
	}
}

// CaughtUp reports whether every watched group has caught up since start.
// It stays true afterwards: a backlog under load is no reason to take a
// process out of service.
func (w *LagWatch) CaughtUp() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.caughtUp
}
