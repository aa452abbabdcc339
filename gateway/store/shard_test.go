package store

import (
	"testing"
	"time"
)

// The slot function must agree with Redis, or a script's keys would not
// share a slot on a real cluster: values from CLUSTER KEYSLOT.
func TestClusterSlotAgreesWithRedis(t *testing.T) {
	for key, want := range map[string]uint16{"foo": 12182, "bar": 5061, "hello": 866, "123456789": 12739} {
		if got := clusterSlot(key); got != want {
			t.Errorf("slot(%q) = %d, Redis says %d", key, got, want)
		}
	}
}

func TestShardTagsAreEvenlySpacedAndKeysShareTheirDeclarationsSlot(t *testing.T) {
	seen := map[uint16]bool{}
	for i, tag := range shardTags {
		slot := clusterSlot(tag[1 : len(tag)-1])
		if int(slot)*Shards/clusterSlots != i || seen[slot] {
			t.Errorf("tag %d %s is in slot %d", i, tag, slot)
		}
		seen[slot] = true
	}
	id := "01JDECLARATION"
	hour, day := statsKeys(id, time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
	for _, k := range []string{historyKey(id), messagesKey(id), hour, day, flightKey(shardOf(id), "20261128:CA1234")} {
		if tagOf(k) != tagOf(declKey(id)) {
			t.Errorf("%s is not in the slot of %s", k, declKey(id))
		}
	}
}

// tagOf is a key's hash tag, as Redis Cluster reads it.
func tagOf(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == '{' {
			for j := i + 1; j < len(key); j++ {
				if key[j] == '}' {
					return key[i+1 : j]
				}
			}
		}
	}
	return key
}
