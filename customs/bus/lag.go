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
	start, end, committed, err := groupOffsets(ctx, cfg, group, topic)
	if err != nil {
		return 0, err
	}
	var lag int64
	for p, c := range committed {
		from := max(c, start[p]) // nothing committed (-1), or before what is kept
		lag += max(end[p]-from, 0)
	}
	return lag, nil
}

// EverCommitted reports whether the consumer group has ever committed an
// offset of topic.
func EverCommitted(ctx context.Context, cfg Config, group, topic string) (bool, error) {
	_, _, committed, err := groupOffsets(ctx, cfg, group, topic)
	for _, c := range committed {
		if c >= 0 {
			return true, nil
		}
	}
	return false, err
}

// groupOffsets are, per partition of topic, its first and next offsets and
// the group's committed offset (-1 for none).
func groupOffsets(ctx context.Context, cfg Config, group, topic string) (start, end, committed map[int]int64, err error) {
	client, name := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 5 * time.Second}, cfg.TopicPrefix+topic
	if start, end, err = offsets(ctx, client, name); err != nil {
		return nil, nil, nil, err
	}
	parts := make([]int, 0, len(end))
	for p := range end {
		parts = append(parts, p)
	}
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: cfg.TopicPrefix + group, Topics: map[string][]int{name: parts}})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("bus: offsets of group %s: %w", group, err)
	}
	committed = map[int]int64{}
	for _, p := range res.Topics[name] {
		committed[p.Partition] = p.CommittedOffset
	}
	return start, end, committed, nil
}

// offsets are the first and next offsets of every partition of topic name.
func offsets(ctx context.Context, client *kafka.Client, name string) (start, end map[int]int64, err error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{name}})
	if err != nil {
		return nil, nil, fmt.Errorf("bus: metadata of %s: %w", name, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		return nil, nil, fmt.Errorf("bus: no topic %s", name)
	}
	var lasts, firsts []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		lasts, firsts = append(lasts, kafka.LastOffsetOf(p.ID)), append(firsts, kafka.FirstOffsetOf(p.ID))
	}
	start, end = map[int]int64{}, map[int]int64{}
	for _, q := range []struct {
		ask []kafka.OffsetRequest
		put func(kafka.PartitionOffsets)
	}{
		{lasts, func(p kafka.PartitionOffsets) { end[p.Partition] = p.LastOffset }},
		{firsts, func(p kafka.PartitionOffsets) { start[p.Partition] = p.FirstOffset }},
	} {
		res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{name: q.ask}})
		if err != nil {
			return nil, nil, fmt.Errorf("bus: offsets of %s: %w", name, err)
		}
		for _, p := range res.Topics[name] {
			q.put(p)
		}
	}
	return start, end, nil
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
