package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Shards is how many groups the declarations are spread over. Each group
// is one Redis Cluster hash slot: a declaration's keys, and its group's
// share of the statistics and flight readiness, carry the group's hash
// tag, so the Lua step that changes a declaration and counts it touches
// one slot, while the counters are spread over Shards slots instead of
// making one hot slot. Reads merge the groups. 32 slots, evenly spaced
// over the 16,384, keep a cluster of up to 32 masters balanced; on a
// single Redis the groups cost only the merge.
//
// Changing Shards moves every declaration's keys: a store written with
// one value is rebuilt from Kafka (clearway rebuild) to use another.
const Shards = 32

// clusterSlots is Redis Cluster's hash slot count.
const clusterSlots = 16384

// shardTags are the groups' hash tags, braces included: tag i hashes to a
// slot in the i-th of Shards equal ranges of slots.
var shardTags = func() [Shards]string {
	var tags [Shards]string
	for i := range tags {
		for n := 0; ; n++ {
			tag := strconv.Itoa(i) + "." + strconv.Itoa(n)
			if int(clusterSlot(tag))*Shards/clusterSlots == i {
				tags[i] = "{" + tag + "}"
				break
			}
		}
	}
	return tags
}()

// shardOf is the hash tag of id's group.
func shardOf(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return shardTags[h.Sum32()%Shards]
}

// clusterSlot is the Redis Cluster hash slot of a hash tag's content:
// CRC-16/XMODEM modulo 16,384, as Redis computes it.
func clusterSlot(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % clusterSlots
}

// readShards runs read on key(tag, name) of every group for each name, in
// one pipeline (one round trip to each master, on a cluster): the
// commands per name, one per group.
func readShards[C redis.Cmder](ctx context.Context, s *Store, names []string, key func(tag, name string) string,
	read func(p redis.Pipeliner, key string) C) ([][]C, error) {
	cmds := make([][]C, len(names))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, name := range names {
			cmds[i] = make([]C, Shards)
			for j, tag := range shardTags {
				cmds[i][j] = read(p, key(tag, name))
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	return cmds, nil
}

// addUpShards reads, for each name, the hash key(tag, name) of every group
// and adds the groups' counters up: one map of totals per name.
func (s *Store) addUpShards(ctx context.Context, names []string, key func(tag, name string) string) ([]map[string]string, error) {
	cmds, err := readShards(ctx, s, names, key, func(p redis.Pipeliner, k string) *redis.MapStringStringCmd { return p.HGetAll(ctx, k) })
	if err != nil {
		return nil, err
	}
	out := make([]map[string]string, len(names))
	for i := range names {
		sums := map[string]int64{}
		for _, c := range cmds[i] {
			for f, v := range c.Val() {
				n, _ := strconv.ParseInt(v, 10, 64)
				sums[f] += n
			}
		}
		out[i] = make(map[string]string, len(sums))
		for f, n := range sums {
			out[i][f] = strconv.FormatInt(n, 10)
		}
	}
	return out, nil
}

// joinShards reads, for each name, the set key(tag, name) of every group:
// one sorted union per name.
func (s *Store) joinShards(ctx context.Context, names []string, key func(tag, name string) string) ([][]string, error) {
	cmds, err := readShards(ctx, s, names, key, func(p redis.Pipeliner, k string) *redis.StringSliceCmd { return p.SMembers(ctx, k) })
	if err != nil {
		return nil, err
	}
	out := make([][]string, len(names))
	for i := range names {
		for _, c := range cmds[i] {
			out[i] = append(out[i], c.Val()...)
		}
		slices.Sort(out[i])
		out[i] = slices.Compact(out[i])
	}
	return out, nil
}

// HoldsDeclarations reports whether Redis holds any declaration: on a
// Redis Cluster, on any of its masters.
func HoldsDeclarations(ctx context.Context, rdb redis.UniversalClient) (bool, error) {
	var found atomic.Bool
	err := ForEachServer(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, "d:{*", 1000).Iterator()
		if it.Next(ctx) {
			found.Store(true)
		}
		return it.Err()
	})
	return found.Load(), err
}

// ForEachServer runs f on the one Redis, or on every master of a Redis
// Cluster (concurrently): for what asks each server about all its keys.
func ForEachServer(ctx context.Context, rdb redis.UniversalClient, f func(context.Context, *redis.Client) error) error {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, f)
	case *redis.Client:
		return f(ctx, c)
	}
	return fmt.Errorf("store: cannot reach the servers of a %T", rdb)
}
