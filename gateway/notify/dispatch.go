package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/clearway/clearway/customs/bus"
	"github.com/clearway/clearway/gateway/store"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

// GroupStatus is the consumer group that fans status events out.
const GroupStatus = "clearway-notify"

// StreamLength bounds each event stream: how far back a Server-Sent
// Events client can resume.
const StreamLength = 100000

// StreamKey is the event stream a scope reads.
func StreamKey(sc store.Scope) string {
	switch {
	case sc.Role == "courier" || (sc.Role == "admin" && sc.Tenant != "*"):
		return "es:courier:" + sc.Tenant
	case sc.Role == "broker":
		return "es:broker:" + sc.Tenant
	}
	return "es:all"
}

// Config shapes webhook delivery.
type Config struct {
	BlockAfter time.Duration // a subscription failing this long is blocked (CLEARWAY_WEBHOOK_BLOCK_AFTER)
	Timeout    time.Duration // per delivery attempt
	MaxBackoff time.Duration
}

// Dispatcher fans status events out to subscriptions' queues and streams,
// and delivers the queues.
type Dispatcher struct {
	cfg    Config
	reg    *Registry
	rdb    redis.UniversalClient
	client *http.Client
	writer *bus.Producer // dead letters
	log    *slog.Logger

	mu       sync.Mutex
	subs     []*Subscription
	loadedAt time.Time
}

func NewDispatcher(cfg Config, reg *Registry, rdb redis.UniversalClient, w *bus.Producer, log *slog.Logger) *Dispatcher {
	return &Dispatcher{cfg: cfg, reg: reg, rdb: rdb, writer: w, log: log, client: &http.Client{Timeout: cfg.Timeout}}
}

// Run fans out from r and delivers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context, r *kafka.Reader) error {
	go d.deliverLoop(ctx)
	return bus.Consume(ctx, r, bus.ConsumerConfig{MaxBatch: 1000, MaxWait: 10 * time.Millisecond}, d.Fanout, d.log)
}

// subscriptions are re-read at most every second.
func (d *Dispatcher) subscriptions(ctx context.Context) ([]*Subscription, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.loadedAt) < time.Second {
		return d.subs, nil
	}
	subs, err := d.reg.all(ctx)
	if err != nil {
		return nil, err
	}
	d.subs, d.loadedAt = subs, time.Now()
	return subs, nil
}

// Fanout appends each event to the queue of every subscription that may
// see it and to the event streams. A redelivered batch appends again:
// receivers de-duplicate by event id. The subscriptions are read afresh
// for every batch (one HGETALL): a cached list would let a subscription
// made in the last second miss its first events.
func (d *Dispatcher) Fanout(ctx context.Context, msgs []kafka.Message) error {
	subs, err := d.reg.all(ctx)
	if err != nil {
		return err
	}
	type decoded struct {
		e   *bus.StatusEvent
		raw []byte // delivered as published
	}
	events, poison := bus.DecodeEach(msgs, func(b []byte) (decoded, error) {
		e, err := bus.DecodeStatus(b)
		return decoded{e, b}, err
	}, "status event", d.log)
	if err := bus.DeadLetter(ctx, d.writer, "undecodable status event", poison...); err != nil {
		return err
	}
	_, err = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, ev := range events {
			e, value := ev.e, ev.raw
			for _, s := range subs {
				if s.scope().Sees(e.Tenant, e.AgentCode) {
					p.RPush(ctx, queueKey(s.ID), value)
				}
			}
			for _, key := range []string{"es:courier:" + e.Tenant, "es:broker:" + e.AgentCode, "es:all"} {
				p.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: StreamLength, Approx: true, Values: []any{"event", value}})
			}
		}
		return nil
	})
	return err
}

// deliverLoop works through every subscription's queue; a lease in Redis
// makes one gateway instance at a time deliver a subscription, in order.
func (d *Dispatcher) deliverLoop(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		subs, err := d.subscriptions(ctx)
		if err != nil {
			continue
		}
		for _, s := range subs {
			d.deliver(ctx, s)
		}
	}
}

func (d *Dispatcher) deliver(ctx context.Context, s *Subscription) {
	st, err := d.rdb.HGetAll(ctx, stateKey(s.ID)).Result()
	if err != nil || st["blocked"] == "1" {
		return
	}
	if next, _ := strconv.ParseInt(st["nextAttempt"], 10, 64); time.Now().UnixMilli() < next {
		return
	}
	lease := 30 * time.Second
	if ok, err := d.rdb.SetNX(ctx, leaseKey(s.ID), "1", lease).Result(); err != nil || !ok {
		return
	}
	defer d.rdb.Del(context.WithoutCancel(ctx), leaseKey(s.ID))
	for i := 0; i < 100 && ctx.Err() == nil; i++ {
		body, err := d.rdb.LIndex(ctx, queueKey(s.ID), 0).Bytes()
		if err != nil {
			return // empty, or Redis away: try on the next tick
		}
		if err := d.post(ctx, s, body); err != nil {
			d.failed(ctx, s, st, err)
			return
		}
		d.rdb.LPop(ctx, queueKey(s.ID))
		if len(st) > 0 {
			d.rdb.Del(ctx, stateKey(s.ID))
			st = nil
		}
	}
}

func (d *Dispatcher) post(ctx context.Context, s *Subscription, body []byte) error {
	var e bus.StatusEvent
	json.Unmarshal(body, &e)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Clearway-Webhook/1")
	req.Header.Set(HeaderEventID, e.EventID)
	req.Header.Set(HeaderSignature, Sign(s.Secret, time.Now(), body))
	res, err := d.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("answered %d", res.StatusCode)
	}
	return nil
}

// failed schedules the next attempt with exponential backoff, and blocks
// the subscription once it has failed for BlockAfter. Its events stay
// queued until an admin unblocks it.
func (d *Dispatcher) failed(ctx context.Context, s *Subscription, st map[string]string, cause error) {
	now := time.Now()
	since, _ := strconv.ParseInt(st["failingSince"], 10, 64)
	if since == 0 {
		since = now.UnixMilli()
	}
	attempts, _ := strconv.Atoi(st["attempts"])
	backoff := min(bus.Backoff(attempts), d.cfg.MaxBackoff)
	fields := map[string]any{"failingSince": since, "attempts": attempts + 1, "nextAttempt": now.Add(backoff).UnixMilli(), "lastError": cause.Error()}
	if now.Sub(time.UnixMilli(since)) >= d.cfg.BlockAfter {
		fields["blocked"] = "1"
		d.log.Warn("webhook blocked; its events are kept until an admin unblocks it", "subscription", s.ID, "url", s.URL, "err", cause)
	}
	d.rdb.HSet(ctx, stateKey(s.ID), fields)
}
