package planner

import (
	"bytes"
	"hash/maphash"
	"slices"
	"strings"
)

// idSet interns customer ids. A plan holds the id of every customer who
// passes a segment, and at a million customers a string header, an
// allocation and a map entry per id were most of its memory. Here an id
// costs its bytes in one shared buffer, a 4-byte offset, and about 8 bytes
// of hash table; the plan refers to it by its index.
//
// The set is built with add, then frozen: freeze sorts the ids, renumbers
// them in id order (so that sorting by index sorts by id) and turns the
// buffer into one string, of which the ids handed out by id are substrings.
// lookup works before and after.
type idSet struct {
	data   []byte   // the ids, concatenated (while building)
	str    string   // the same, in index order (once frozen)
	ends   []uint32 // id i is [ends[i-1], ends[i])
	slots  []uint32 // open addressing: 0 is empty, else index+1
	seed   maphash.Seed
	frozen bool
}

func newIDSet() *idSet {
	return &idSet{seed: maphash.MakeSeed(), slots: make([]uint32, 1024)}
}

// len is the number of distinct ids.
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

// add interns id, returning its index. Only before freeze.
func (s *idSet) add(id []byte) uint32 {
	if s.frozen {
		panic("planner: add to a frozen idSet")
	}
	mask := uint32(len(s.slots) - 1)
	for p := uint32(maphash.Bytes(s.seed, id)) & mask; ; p = (p + 1) & mask {
		v := s.slots[p]
		if v == 0 {
			break
		}
		if bytes.Equal(s.bytesOf(v-1), id) {
			return v - 1
		}
	}
	if uint64(len(s.data))+uint64(len(id)) > 1<<32-1 {
		// 4 GB of ids: hundreds of millions of customers in one plan.
		panic("planner: more than 4 GB of customer ids")
	}
	i := uint32(len(s.ends))
	s.data = append(s.data, id...)
	s.ends = append(s.ends, uint32(len(s.data)))
	if 2*len(s.ends) > len(s.slots) {
		s.rehash(2 * len(s.slots))
	} else {
		s.place(i, maphash.Bytes(s.seed, id))
	}
	return i
}

func (s *idSet) place(i uint32, h uint64) {
	mask := uint32(len(s.slots) - 1)
	p := uint32(h) & mask
	for s.slots[p] != 0 {
		p = (p + 1) & mask
	}
	s.slots[p] = i + 1
}

// rehash rebuilds the table with n slots (a power of two) for the ids
// there are, keeping it at most half full.
func (s *idSet) rehash(n int) {
	s.slots = make([]uint32, n)
	for i := range s.ends {
		s.place(uint32(i), maphash.Bytes(s.seed, s.bytesOf(uint32(i))))
	}
}

// dropIndex frees the hash table of a frozen set whose users hold indexes
// and need only id: lookup is no longer possible.
func (s *idSet) dropIndex() {
	if !s.frozen {
		panic("planner: dropIndex on an idSet still being built")
	}
	s.slots = nil
}

// lookup returns the index of id.
func (s *idSet) lookup(id string) (uint32, bool) {
	if s.slots == nil {
		panic("planner: lookup after dropIndex")
	}
	mask := uint32(len(s.slots) - 1)
	for p := uint32(maphash.String(s.seed, id)) & mask; ; p = (p + 1) & mask {
		v := s.slots[p]
		if v == 0 {
			return 0, false
		}
		lo, hi := s.bounds(v - 1)
		if s.frozen && s.str[lo:hi] == id || !s.frozen && string(s.data[lo:hi]) == id {
			return v - 1, true
		}
	}
}

// freeze renumbers the ids in sorted order and returns, for each old
// index, the new one. The set takes no more ids.
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
	ends := make([]uint32, n)
	for k, i := range order {
		rank[i] = uint32(k)
		sb.Write(s.bytesOf(i))
		ends[k] = uint32(sb.Len())
	}
	s.str, s.ends, s.data, s.frozen = sb.String(), ends, nil, true
	for p, v := range s.slots {
		if v != 0 {
			s.slots[p] = rank[v-1] + 1
		}
	}
	return rank
}
