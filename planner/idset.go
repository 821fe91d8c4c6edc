package planner

import (
	"bytes"
	"hash/maphash"
	"slices"
	"strings"
)

// idSet holds customer ids compactly. A plan holds the id of every
// customer who passes a segment, and at a million customers a string
// header, an allocation and a map entry per id were most of its memory.
// Here an id costs its bytes in one shared buffer, a 4-byte offset and,
// once frozen, about 8 bytes of hash table; the plan refers to it by its
// index.
//
// While the sources are read, add only appends (no hashing, no table that
// grows and rehashes), so the same id may be added more than once. freeze
// then sorts the ids, drops repeats, renumbers them in id order (so that
// sorting by index sorts by id), turns the buffer into one string, of
// which the ids handed out by id are substrings, and builds the table for
// lookup at its final size.
type idSet struct {
	data   []byte   // the ids as added, concatenated (until frozen)
	str    string   // the distinct ids in order, concatenated (once frozen)
	ends   []uint32 // id i is [ends[i-1], ends[i]) of data, then of str
	slots  []uint32 // open addressing: 0 is empty, else index+1
	seed   maphash.Seed
	frozen bool
}

func newIDSet() *idSet {
	return &idSet{seed: maphash.MakeSeed()}
}

// len is the number of ids: as added, then, once frozen, distinct.
func (s *idSet) len() int { return len(s.ends) }

func (s *idSet) bounds(i uint32) (int, int) {
	lo := 0
	if i > 0 {
		lo = int(s.ends[i-1])
	}
	return lo, int(s.ends[i])
}

// id returns id i of a frozen set, sharing the set's memory.
func (s *idSet) id(i uint32) string {
	lo, hi := s.bounds(i)
	return s.str[lo:hi]
}

func (s *idSet) bytesOf(i uint32) []byte {
	lo, hi := s.bounds(i)
	return s.data[lo:hi]
}

// add appends id and returns its provisional index, which freeze maps to
// the final one. Only before freeze.
func (s *idSet) add(id []byte) uint32 {
	if s.frozen {
		panic("planner: add to a frozen idSet")
	}
	if uint64(len(s.data))+uint64(len(id)) > 1<<32-1 {
		// 4 GB of ids: hundreds of millions of customers in one plan.
		panic("planner: more than 4 GB of customer ids")
	}
	s.data = append(s.data, id...)
	s.ends = append(s.ends, uint32(len(s.data)))
	return uint32(len(s.ends) - 1)
}

// freeze sorts the ids, drops repeats and returns, for each provisional
// index add returned, the final one. The set takes no more ids.
func (s *idSet) freeze() []uint32 {
	n := len(s.ends)
	order := make([]uint32, n)
	for i := range order {
		order[i] = uint32(i)
	}
	// Sources are usually sorted by id, and ids were added in source
	// order: pdqsort finds the order already there in one pass.
	slices.SortFunc(order, func(a, b uint32) int { return bytes.Compare(s.bytesOf(a), s.bytesOf(b)) })
	rank := make([]uint32, n)
	var sb strings.Builder
	sb.Grow(len(s.data))
	ends := make([]uint32, 0, n)
	for k, i := range order {
		id := s.bytesOf(i)
		if k == 0 || !bytes.Equal(id, s.bytesOf(order[k-1])) {
			sb.Write(id)
			ends = append(ends, uint32(sb.Len()))
		}
		rank[i] = uint32(len(ends) - 1)
	}
	s.str, s.ends, s.data, s.frozen = sb.String(), ends, nil, true
	// At most half full: linear probing stays short.
	size := 1024
	for size < 2*len(s.ends) {
		size *= 2
	}
	s.slots = make([]uint32, size)
	mask := uint32(size - 1)
	for i := range s.ends {
		p := uint32(maphash.String(s.seed, s.id(uint32(i)))) & mask
		for s.slots[p] != 0 {
			p = (p + 1) & mask
		}
		s.slots[p] = uint32(i) + 1
	}
	return rank
}

// dropIndex frees the hash table of a frozen set whose users hold indexes
// and need only id: lookup is no longer possible.
func (s *idSet) dropIndex() {
	s.slots = nil
}

// lookup returns the index of id in a frozen set.
func (s *idSet) lookup(id string) (uint32, bool) {
	if s.slots == nil {
		panic("planner: lookup before freeze or after dropIndex")
	}
	mask := uint32(len(s.slots) - 1)
	for p := uint32(maphash.String(s.seed, id)) & mask; ; p = (p + 1) & mask {
		v := s.slots[p]
		if v == 0 {
			return 0, false
		}
		if s.id(v-1) == id {
			return v - 1, true
		}
	}
}
