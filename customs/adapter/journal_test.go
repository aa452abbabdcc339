package adapter

import (
	"context"
	"errors"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// The journal answers which message each declaration went in; once its
// Redis is emptied it refuses to answer until a rebuild restores it.
func TestJournalRefusesToAnswerOnceEmptiedUntilRestored(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	nothingSent := true
	j, ctx := NewJournal(rdb, func(context.Context) (bool, error) { return nothingSent, nil }), context.Background()

	got, err := j.SentIn(ctx, []string{"a", "b"}) // a fresh Redis: nothing sent yet
	if err != nil || len(got) != 0 {
		t.Fatalf("fresh journal: %v %v", got, err)
	}
	if err := j.Record(ctx, "G1", []string{"a", "b"}, []byte("<waybills/>"), []byte("<envelope/>")); err != nil {
		t.Fatal(err)
	}
	nothingSent = false
	got, err = j.SentIn(ctx, []string{"a", "b", "c"})
	if err != nil || got["a"] != "G1" || got["b"] != "G1" || got["c"] != "" {
		t.Fatalf("after recording: %v %v", got, err)
	}
	if envs, err := j.Envelopes(ctx, "G1"); err != nil || len(envs) != 2 || string(envs[0]) != "<waybills/>" || string(envs[1]) != "<envelope/>" {
		t.Fatalf("envelopes %q %v, want the waybills' then the inventories'", envs, err)
	}

	mr.FlushAll()
	if _, err := j.SentIn(ctx, []string{"a"}); !errors.Is(err, ErrJournalEmptied) {
		t.Fatalf("after FLUSHALL: %v, want ErrJournalEmptied", err)
	}
	restarted := NewJournal(rdb, func(context.Context) (bool, error) { return nothingSent, nil })
	if _, err := restarted.SentIn(ctx, []string{"a"}); !errors.Is(err, ErrJournalEmptied) {
		t.Fatalf("an adapter started after the FLUSHALL: %v, want ErrJournalEmptied (messages were sent)", err)
	}
	if err := j.Restore(ctx, "G1", []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := j.MarkWhole(ctx); err != nil {
		t.Fatal(err)
	}
	got, err = j.SentIn(ctx, []string{"a"})
	if err != nil || got["a"] != "G1" {
		t.Fatalf("after the rebuild restored it: %v %v", got, err)
	}
	if envs, _ := j.Envelopes(ctx, "G1"); len(envs) != 0 {
		t.Fatal("a restored message has no envelope to send again: it went out, so it is not sent again")
	}
}

// A delivered message's envelope goes at once; which message each of its
// declarations went in stays, so a redelivery sends nothing again.
func TestJournalDropsADeliveredEnvelopeAndKeepsItsDeclarations(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	j, ctx := NewJournal(rdb, func(context.Context) (bool, error) { return true, nil }), context.Background()
	if err := j.Record(ctx, "G2", []string{"a"}, []byte("<envelope/>")); err != nil {
		t.Fatal(err)
	}
	if err := j.Delivered(ctx, "G2"); err != nil {
		t.Fatal(err)
	}
	if envs, err := j.Envelopes(ctx, "G2"); len(envs) != 0 || err != nil {
		t.Fatalf("after delivery the envelopes are %q (%v)", envs, err)
	}
	if got, err := j.SentIn(ctx, []string{"a"}); err != nil || got["a"] != "G2" {
		t.Fatalf("after delivery: %v %v", got, err)
	}
}
