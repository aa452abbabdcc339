package bus

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// Archive reads an event of clearway.receipts.v1 back by where it sits.
// The XML Clearway sent and received travels in those events, and Kafka
// keeps them longer than Redis keeps any declaration (CLEARWAY_KAFKA_RETENTION
// exceeds CLEARWAY_RETENTION by 30 days), so Redis keeps only where each
// is: a few bytes instead of kilobytes of XML per declaration.
type Archive struct {
	client *kafka.Client
	topic  string
}

func NewArchive(cfg Config) *Archive {
	return &Archive{client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second}, topic: cfg.TopicPrefix + TopicReceipts}
}

// Receipt is the payload of the event at offset of partition.
func (a *Archive) Receipt(ctx context.Context, partition int, offset int64) ([]byte, error) {
	res, err := a.client.Fetch(ctx, &kafka.FetchRequest{Topic: a.topic, Partition: partition, Offset: offset, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: time.Second})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return nil, fmt.Errorf("bus: read %s/%d at %d: %w", a.topic, partition, offset, err)
	}
	for {
		r, err := res.Records.ReadRecord()
		if err != nil {
			return nil, fmt.Errorf("bus: no event at %s/%d offset %d: %w", a.topic, partition, offset, err)
		}
		if r.Offset == offset {
			return io.ReadAll(r.Value)
		}
	}
}
