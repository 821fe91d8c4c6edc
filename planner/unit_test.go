package planner

import (
	"fmt"
	"hash/fnv"
	"testing"
)

// TestUnitIsFNV pins the hash behind holdout and variants to what earlier
// plans used, FNV-1a of salt, a zero byte and the id: a change would move
// customers between variants of a running campaign.
func TestUnitIsFNV(t *testing.T) {
	old := func(salt, id string) float64 {
		h := fnv.New64a()
		h.Write([]byte(salt))
		h.Write([]byte{0})
		h.Write([]byte(id))
		x := h.Sum64()
		x ^= x >> 30
		x *= 0xbf58476d1ce4e5b9
		x ^= x >> 27
		x *= 0x94d049bb133111eb
		x ^= x >> 31
		return float64(x>>11) / float64(1<<53)
	}
	for _, salt := range []string{"", "holdout:winback", "variant:x"} {
		for i := 0; i < 1000; i++ {
			id := fmt.Sprintf("c%07d", i)
			if got, want := unit(salt, id), old(salt, id); got != want {
				t.Fatalf("unit(%q, %q) = %v, want %v", salt, id, got, want)
			}
		}
	}
}
