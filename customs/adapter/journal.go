package adapter

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Journal remembers, in Redis, which message each declaration went out in,
// and keeps each message's envelope for a while, so that no adapter (this
// one after a crash, or another one after a rebalance) declares a parcel
// to customs twice. A message is written to the journal before it is
// sent; a declaration found in the journal is never composed into a new
// message: its message is sent again as it was (same CopMsgId, which the
// exchange takes once), or, once the envelope has expired, not at all.
//
// The journal lives in Redis, which can be emptied (FLUSHALL) and rebuilt
// from Kafka. A marker says the journal is whole: the first adapter sets it
// when nothing was ever sent (no adapter ever committed); `clearway
// rebuild` restores every declaration's message from the sent events on
// Kafka, then sets it again. While it is missing, adapters declare nothing
// (the batch is retried), since they could not tell a parcel already
// declared from a new one.
type Journal struct {
	rdb    redis.UniversalClient
	opened atomic.Bool // this process has seen the journal whole
	// nothingSent tells a fresh Redis (nothing was ever declared, the first
	// adapter marks the journal whole) from an emptied one.
	nothingSent func(context.Context) (bool, error)
	// envelopeTTL is how long a sent envelope is kept to be sent again: a
	// redelivery comes when the adapter died before committing, so within
	// minutes of the send. mappingTTL is how long a declaration is known to
	// have been sent, well past any redelivery.
	envelopeTTL, mappingTTL time.Duration
}

// NewJournal keeps the journal in rdb; nothingSent reports whether no
// message was ever sent (nil for a journal only restored, in a rebuild).
func NewJournal(rdb redis.UniversalClient, nothingSent func(context.Context) (bool, error)) *Journal {
	return &Journal{rdb: rdb, nothingSent: nothingSent, envelopeTTL: 6 * time.Hour, mappingTTL: 14 * 24 * time.Hour}
}

func sentInKey(declarationID string) string { return "aj:d:{" + declarationID + "}" }

// wholeKey marks the journal whole.
const wholeKey = "aj:whole"

// ErrJournalEmptied is returned while the journal is not whole.
var ErrJournalEmptied = errors.New("adapter: the send journal in Redis was emptied; declaring nothing until clearway rebuild restores it")

func envelopeKey(guid string) string { return "aj:m:{" + guid + "}" }

// SentIn reports, for each declaration already journaled, the guid of
// the message it went out in.
func (j *Journal) SentIn(ctx context.Context, ids []string) (map[string]string, error) {
	cmds := make([]*redis.StringCmd, len(ids))
	var whole *redis.IntCmd
	_, err := j.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		whole = p.Exists(ctx, wholeKey)
		for i, id := range ids {
			cmds[i] = p.Get(ctx, sentInKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("adapter: journal: %w", err)
	}
	if whole.Val() == 0 {
		fresh := false
		if !j.opened.Load() && j.nothingSent != nil {
			if fresh, err = j.nothingSent(ctx); err != nil {
				return nil, fmt.Errorf("adapter: journal: %w", err)
			}
		}
		if !fresh {
			return nil, ErrJournalEmptied
		}
		if err := j.MarkWhole(ctx); err != nil {
			return nil, err
		}
	}
	j.opened.Store(true)
	out := map[string]string{}
	for i, c := range cmds {
		if guid := c.Val(); guid != "" {
			out[ids[i]] = guid
		}
	}
	return out, nil
}

// Envelopes are a journaled sending's envelopes in the order they were
// sent (a parcel's CEB505 waybills before its CEB603 inventories), or none
// once they have expired.
func (j *Journal) Envelopes(ctx context.Context, guid string) ([][]byte, error) {
	vs, err := j.rdb.LRange(ctx, envelopeKey(guid), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("adapter: journal: %w", err)
	}
	out := make([][]byte, len(vs))
	for i, v := range vs {
		out[i] = []byte(v)
	}
	return out, nil
}

// Record journals a sending before it goes out: its envelopes first, then
// which declarations it carries, so a declaration found in the journal
// always has its envelopes, until they expire.
func (j *Journal) Record(ctx context.Context, guid string, ids []string, envelopes ...[]byte) error {
	_, err := j.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, envelopeKey(guid))
		for _, e := range envelopes {
			p.RPush(ctx, envelopeKey(guid), e)
		}
		p.Expire(ctx, envelopeKey(guid), j.envelopeTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("adapter: journal: %w", err)
	}
	return j.Restore(ctx, guid, ids)
}

// Delivered drops a sending's envelopes once they reached customs
// and its sent events are on Kafka: a redelivery after that has nothing to
// send again. Until then the envelope is kept (at most envelopeTTL) for a
// resend after a crash. Without this every envelope would sit in Redis
// for hours, the largest part of its memory.
func (j *Journal) Delivered(ctx context.Context, guid string) error {
	if err := j.rdb.Del(ctx, envelopeKey(guid)).Err(); err != nil {
		return fmt.Errorf("adapter: journal: %w", err)
	}
	return nil
}

// Restore records that ids went out in message guid (without its
// envelope, as a rebuild does: the message went out, it is not sent again).
func (j *Journal) Restore(ctx context.Context, guid string, ids []string) error {
	_, err := j.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Set(ctx, sentInKey(id), guid, j.mappingTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("adapter: journal: %w", err)
	}
	return nil
}

// MarkWhole says the journal holds every declaration sent.
func (j *Journal) MarkWhole(ctx context.Context) error {
	if err := j.rdb.Set(ctx, wholeKey, time.Now().UTC().Format(time.RFC3339), 0).Err(); err != nil {
		return fmt.Errorf("adapter: journal: %w", err)
	}
	return nil
}
