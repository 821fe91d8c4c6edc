package planner

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestIDSet(t *testing.T) {
	s := newIDSet()
	r := rand.New(rand.NewPCG(1, 2))
	var added []string
	for i := 0; i < 5000; i++ {
		id := fmt.Sprintf("c%d", r.IntN(3000)) // repeats, out of order
		if i%7 == 0 {
			id = ""
		}
		if n := s.add([]byte(id)); n != uint32(i) {
			t.Fatalf("add #%d returned %d", i, n)
		}
		added = append(added, id)
	}
	rank := s.freeze()
	distinct := slices.Compact(slices.Sorted(slices.Values(added)))
	if s.len() != len(distinct) {
		t.Fatalf("len = %d, want %d", s.len(), len(distinct))
	}
	for i, id := range distinct {
		if s.id(uint32(i)) != id {
			t.Fatalf("id(%d) = %q, want %q (in order)", i, s.id(uint32(i)), id)
		}
		if got, ok := s.lookup(id); !ok || got != uint32(i) {
			t.Fatalf("lookup(%q) = %d, %v; want %d", id, got, ok, i)
		}
	}
	for i, id := range added {
		if s.id(rank[i]) != id {
			t.Fatalf("add #%d (%q) ranked %d, which is %q", i, id, rank[i], s.id(rank[i]))
		}
	}
	if _, ok := s.lookup("nobody"); ok {
		t.Fatal("lookup found an id never added")
	}
	empty := newIDSet()
	empty.freeze()
	if _, ok := empty.lookup(""); ok || empty.len() != 0 {
		t.Fatal("an empty set has ids")
	}
}
