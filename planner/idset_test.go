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
	var ids []string
	index := map[string]uint32{}
	for i := 0; i < 5000; i++ {
		id := fmt.Sprintf("c%d", r.IntN(3000)) // repeats, and more ids than the first table holds
		if i%7 == 0 {
			id = ""
		}
		n := s.add([]byte(id))
		if old, ok := index[id]; ok && old != n {
			t.Fatalf("add(%q) = %d, then %d", id, old, n)
		}
		index[id] = n
		ids = append(ids, id)
	}
	if s.len() != len(index) {
		t.Fatalf("len = %d, want %d", s.len(), len(index))
	}
	for id, n := range index {
		if got, ok := s.lookup(id); !ok || got != n {
			t.Fatalf("lookup(%q) = %d, %v before freeze; want %d", id, got, ok, n)
		}
	}
	rank := s.freeze()
	var sorted []string
	for id, n := range index {
		if got, ok := s.lookup(id); !ok || got != rank[n] {
			t.Fatalf("lookup(%q) = %d, %v after freeze; want %d", id, got, ok, rank[n])
		}
		if s.id(rank[n]) != id {
			t.Fatalf("id(%d) = %q, want %q", rank[n], s.id(rank[n]), id)
		}
		sorted = append(sorted, id)
	}
	slices.Sort(sorted)
	for i, id := range sorted {
		if s.id(uint32(i)) != id {
			t.Fatalf("frozen id %d = %q, want %q (in order)", i, s.id(uint32(i)), id)
		}
	}
	if _, ok := s.lookup("nobody"); ok {
		t.Fatal("lookup found an id never added")
	}
}
