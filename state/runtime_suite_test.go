package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestSQLiteRuntime(t *testing.T) {
	t.Parallel()
	t.Run("Runtime", func(t *testing.T) {
		runRuntimeSuite(t, func(t *testing.T) Backend { return openSQLite(t) })
	})
}

func TestPostgresRuntime(t *testing.T) {
	t.Parallel()
	t.Run("Runtime", func(t *testing.T) {
		runRuntimeSuite(t, func(t *testing.T) Backend { return openPostgres(t) })
	})
}

// runRuntimeSuite is the Runtime behaviour every backend shares: what
// `herald run` relies on to restart without losing or repeating work, and
// to share one state between several runners. open returns a new, empty
// state, closed when the test ends; reopen opens a second Backend on the
// same store, standing in for a second runner.
func runRuntimeSuite(t *testing.T, open func(t *testing.T) Backend) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	const trig = "trigger.cart_abandon"
	// Every subtest has a store of its own, so they run in parallel.
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t)
		})
	}

	run("Values", func(t *testing.T) {
		b := open(t)
		if v, ok, err := b.Value(ctx, "config"); err != nil || ok || v != nil {
			t.Fatalf("Value of a missing key = %q, %v, %v; want nil, false, nil", v, ok, err)
		}
		if err := b.PutValue(ctx, "config", []byte(`{"a":1}`)); err != nil {
			t.Fatal(err)
		}
		if err := b.PutValue(ctx, "offset/source.events/events.jsonl", []byte("1234")); err != nil {
			t.Fatal(err)
		}
		// PutValue replaces.
		if err := b.PutValue(ctx, "config", []byte(`{"a":2}`)); err != nil {
			t.Fatal(err)
		}
		checkValue(t, b, "config", `{"a":2}`)
		checkValue(t, b, "offset/source.events/events.jsonl", "1234")
		// An empty value is a value.
		if err := b.PutValue(ctx, "empty", []byte{}); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := b.Value(ctx, "empty"); err != nil || !ok || len(v) != 0 {
			t.Fatalf("Value(empty) = %q, %v, %v; want an empty value, true", v, ok, err)
		}
		// Binary values survive.
		bin := []byte{0, 1, 2, 0xff, 0xfe, 0}
		if err := b.PutValue(ctx, "bin", bin); err != nil {
			t.Fatal(err)
		}
		checkValue(t, b, "bin", string(bin))
		// Another runner sees them.
		checkValue(t, reopen(t, b), "config", `{"a":2}`)
	})

	run("PutValueIfAbsent", func(t *testing.T) {
		b := open(t)
		got, err := b.PutValueIfAbsent(ctx, "link_key", []byte("first"))
		if err != nil || string(got) != "first" {
			t.Fatalf("PutValueIfAbsent on a new key = %q, %v; want first", got, err)
		}
		got, err = b.PutValueIfAbsent(ctx, "link_key", []byte("second"))
		if err != nil || string(got) != "first" {
			t.Fatalf("PutValueIfAbsent on a set key = %q, %v; want the first value", got, err)
		}
		checkValue(t, b, "link_key", "first")
		// PutValue still replaces it.
		if err := b.PutValue(ctx, "link_key", []byte("third")); err != nil {
			t.Fatal(err)
		}
		if got, err := b.PutValueIfAbsent(ctx, "link_key", []byte("fourth")); err != nil || string(got) != "third" {
			t.Fatalf("PutValueIfAbsent after PutValue = %q, %v; want third", got, err)
		}

		// Runners racing to make the same secret all end up with one.
		b2 := reopen(t, b)
		var wg sync.WaitGroup
		vals := make([][]byte, 16)
		errs := make([]error, 16)
		for i := range vals {
			wg.Go(func() {
				be := b
				if i%2 == 1 {
					be = b2
				}
				vals[i], errs[i] = be.PutValueIfAbsent(ctx, "secret", fmt.Appendf(nil, "secret-%d", i))
			})
		}
		wg.Wait()
		for i := range vals {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if !bytes.Equal(vals[i], vals[0]) {
				t.Fatalf("racing PutValueIfAbsent returned different values: %q and %q", vals[0], vals[i])
			}
		}
		checkValue(t, b, "secret", string(vals[0]))
	})

	run("MarkSeen", func(t *testing.T) {
		b := open(t)
		seen := func(trigger, key, eventID string, at time.Time, want bool) {
			t.Helper()
			got, err := b.MarkSeen(ctx, trigger, key, eventID, at)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("MarkSeen(%s, %s, %s) = %v, want %v", trigger, key, eventID, got, want)
			}
		}
		seen(trig, "order-1", "ev-1", t0, true)
		// The same event again (a replay after a crash) is not a duplicate.
		seen(trig, "order-1", "ev-1", t0, true)
		seen(trig, "order-1", "ev-1", t0.Add(time.Minute), true)
		// Another event with the same key is.
		seen(trig, "order-1", "ev-2", t0.Add(time.Second), false)
		seen(trig, "order-1", "ev-2", t0.Add(time.Second), false)
		// Keys are per trigger.
		seen("trigger.other", "order-1", "ev-2", t0, true)
		seen(trig, "order-2", "ev-2", t0, true)
		// Another runner sees the keys.
		b2 := reopen(t, b)
		if got, err := b2.MarkSeen(ctx, trig, "order-1", "ev-3", t0); err != nil || got {
			t.Fatalf("MarkSeen of a seen key through a second Backend = %v, %v; want false", got, err)
		}
	})

	run("MarkSeenConcurrent", func(t *testing.T) {
		// Runners racing on one key: exactly one event wins it.
		b := open(t)
		b2 := reopen(t, b)
		var wg sync.WaitGroup
		wins := make([]bool, 12)
		errs := make([]error, 12)
		for i := range wins {
			wg.Go(func() {
				be := b
				if i%2 == 1 {
					be = b2
				}
				wins[i], errs[i] = be.MarkSeen(ctx, trig, "order-9", fmt.Sprintf("ev-%d", i), t0)
			})
		}
		wg.Wait()
		n := 0
		for i, w := range wins {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if w {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d events won the dedupe key, want 1", n)
		}
	})

	run("WindowEvents", func(t *testing.T) {
		b := open(t)
		add := func(e WindowEvent, since time.Time, want int) {
			t.Helper()
			got, err := b.AddWindowEvent(ctx, e, since)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("AddWindowEvent(%+v, since %s) = %d, want %d", e, since.Format(time.TimeOnly), got, want)
			}
		}
		ev := func(customer, key string, at time.Time) WindowEvent {
			return WindowEvent{Trigger: trig, CustomerID: customer, Key: key, At: at}
		}
		since := t0.Add(-time.Hour)
		add(ev("c1", "e1", t0), since, 1)
		add(ev("c1", "e2", t0.Add(time.Minute)), since, 2)
		// The same event again (a replay) counts once.
		add(ev("c1", "e2", t0.Add(time.Minute)), since, 2)
		add(ev("c1", "e1", t0), since, 2)
		// Customers and triggers count apart. (Keys are event ids, unique
		// across customers; a trigger may see an event id again.)
		add(ev("c2", "x1", t0), since, 1)
		add(WindowEvent{Trigger: "trigger.other", CustomerID: "c1", Key: "e1", At: t0}, since, 1)
		add(ev("c1", "e3", t0.Add(2*time.Minute)), since, 3)
		// Only events at or after since count: e1 (t0) is out, e2 (t0+1m)
		// is exactly at since.
		add(ev("c1", "e4", t0.Add(3*time.Minute)), t0.Add(time.Minute), 3)
		// An event that arrives late, out of time order, still counts.
		add(ev("c1", "e0", t0.Add(-time.Minute)), since, 5)

		// ClearWindow removes the customer's events at or before upTo.
		if err := b.ClearWindow(ctx, trig, "c1", t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		add(ev("c1", "e5", t0.Add(4*time.Minute)), since, 2) // e4 and e5
		// Nobody else's window changed.
		add(ev("c2", "x2", t0), since, 2)
		add(WindowEvent{Trigger: "trigger.other", CustomerID: "c1", Key: "e2", At: t0}, since, 2)
		// Clearing everything empties the window.
		if err := b.ClearWindow(ctx, trig, "c1", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		add(ev("c1", "e6", t0.Add(2*time.Hour)), since, 1)
		// Clearing an empty window is harmless.
		if err := b.ClearWindow(ctx, trig, "nobody", t0); err != nil {
			t.Fatal(err)
		}
	})

	run("WindowEventsConcurrent", func(t *testing.T) {
		// Runners adding the same events (a replay) and new ones at once:
		// every key counts once.
		b := open(t)
		b2 := reopen(t, b)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				be := b
				if w%2 == 1 {
					be = b2
				}
				for i := w * 10; i < w*10+30; i++ {
					if _, err := be.AddWindowEvent(ctx, WindowEvent{Trigger: trig, CustomerID: "c1", Key: fmt.Sprintf("e%03d", i), At: t0}, t0); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, err := b.AddWindowEvent(ctx, WindowEvent{Trigger: trig, CustomerID: "c1", Key: "e000", At: t0}, t0)
		if err != nil || got != 100 {
			t.Fatalf("window after concurrent adds = %d, %v; want 100", got, err)
		}
	})

	run("PruneRuntime", func(t *testing.T) {
		b := open(t)
		for _, tg := range []string{trig, "trigger.other"} {
			for i, at := range []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)} {
				if _, err := b.AddWindowEvent(ctx, WindowEvent{Trigger: tg, CustomerID: "c1", Key: fmt.Sprint("e", i), At: at}, time.Time{}); err != nil {
					t.Fatal(err)
				}
				if _, err := b.MarkSeen(ctx, tg, fmt.Sprint("k", i), fmt.Sprint("e", i), at); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Everything before t0+1m goes; t0+1m itself stays.
		if err := b.PruneRuntime(ctx, trig, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		count := func(tg string) int {
			t.Helper()
			n, err := b.AddWindowEvent(ctx, WindowEvent{Trigger: tg, CustomerID: "c1", Key: "probe", At: t0.Add(time.Hour)}, t0.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			return n - 1
		}
		if n := count(trig); n != 2 {
			t.Errorf("window after pruning = %d events, want 2 (at and after the cut)", n)
		}
		if n := count("trigger.other"); n != 3 {
			t.Errorf("another trigger's window after pruning = %d events, want 3", n)
		}
		for _, tc := range []struct {
			trigger, key string
			want         bool // new to another event
		}{
			{trig, "k0", true}, {trig, "k1", false}, {trig, "k2", false},
			{"trigger.other", "k0", false},
		} {
			got, err := b.MarkSeen(ctx, tc.trigger, tc.key, "someone-else", t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("after pruning, MarkSeen(%s, %s) by another event = %v, want %v", tc.trigger, tc.key, got, tc.want)
			}
		}
	})

	run("StartJourney", func(t *testing.T) {
		b := open(t)
		j := Journey{
			ID: "j1", Trigger: trig, CustomerID: "c1", StartKey: "ev-1",
			Event:     []byte(`{"cart_value":42,"sku":"A-1"}`),
			StartedAt: t0.Add(1234567 * time.Nanosecond), UpdatedAt: t0.Add(time.Second),
			// Status and Step are the backend's to set.
			Status: JourneyCompleted, Step: 7,
		}
		first := Timer{JourneyID: "j1", Step: 0, DueAt: t0.Add(time.Hour)}
		start(t, b, j, first, t0.Add(-24*time.Hour), true)
		want := j
		want.Status, want.Step, want.StartedAt = JourneyActive, 0, t0.Add(1234*time.Microsecond)
		checkJourney(t, b, want)
		// The first timer is there.
		checkClaim(t, b, "r1", t0.Add(time.Hour), []Timer{first})

		// The same journey again changes nothing, even with other fields.
		again := j
		again.Event, again.StartKey = []byte(`{}`), "ev-x"
		start(t, b, again, Timer{JourneyID: "j1", DueAt: t0}, t0.Add(-24*time.Hour), false)
		checkJourney(t, b, want)

		// A second journey while one is active, and its timer, are refused.
		j2 := Journey{ID: "j2", Trigger: trig, CustomerID: "c1", StartKey: "ev-2", Event: []byte(`{}`), StartedAt: t0.Add(48 * time.Hour)}
		start(t, b, j2, Timer{JourneyID: "j2", DueAt: t0}, time.Time{}, false)
		if got, err := b.Journey(ctx, "j2"); err != nil || got != nil {
			t.Fatalf("refused journey: Journey(j2) = %+v, %v; want nil", got, err)
		}
		// (j1's timer is still leased to r1 here: only a refused timer
		// could be handed out.)
		checkClaim(t, b, "r2", t0.Add(time.Hour+30*time.Second), nil)

		// Other customers and other triggers start their own.
		start(t, b, Journey{ID: "j3", Trigger: trig, CustomerID: "c2", StartedAt: t0}, Timer{JourneyID: "j3", DueAt: t0}, t0, true)
		start(t, b, Journey{ID: "j4", Trigger: "trigger.other", CustomerID: "c1", StartedAt: t0}, Timer{JourneyID: "j4", DueAt: t0}, t0, true)

		// Re-entry: after j1 ends, a new journey is refused while j1
		// started after notBefore, and allowed once it did not.
		if ok, err := b.ExitJourney(ctx, "j1", "converted", t0.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("ExitJourney(j1) = %v, %v", ok, err)
		}
		j5 := Journey{ID: "j5", Trigger: trig, CustomerID: "c1", StartKey: "ev-5", StartedAt: t0.Add(2 * time.Hour)}
		start(t, b, j5, Timer{JourneyID: "j5", DueAt: t0.Add(3 * time.Hour)}, t0, false)
		start(t, b, j5, Timer{JourneyID: "j5", DueAt: t0.Add(3 * time.Hour)}, t0.Add(time.Microsecond), false)
		if got, _ := b.Journey(ctx, "j5"); got != nil {
			t.Fatalf("journey refused for re-entry was stored: %+v", got)
		}
		// j1 started at t0+1234µs: a notBefore at that instant lets j5 in.
		start(t, b, j5, Timer{JourneyID: "j5", DueAt: t0.Add(3 * time.Hour)}, t0.Add(1234*time.Microsecond), true)
		got, err := b.Journey(ctx, "j5")
		if err != nil || got == nil || got.Status != JourneyActive {
			t.Fatalf("Journey(j5) = %+v, %v; want it active", got, err)
		}
		// A zero UpdatedAt is now.
		if d := time.Since(got.UpdatedAt); d < -time.Minute || d > time.Minute {
			t.Errorf("journey started with no UpdatedAt has UpdatedAt %s, want about now", got.UpdatedAt)
		}
		// The exited journey's ID stays taken.
		start(t, b, Journey{ID: "j1", Trigger: trig, CustomerID: "c9", StartedAt: t0.Add(5 * time.Hour)}, Timer{JourneyID: "j1", DueAt: t0}, time.Time{}, false)
		// A second runner sees the journey and refuses it too.
		b2 := reopen(t, b)
		start(t, b2, j5, Timer{JourneyID: "j5", DueAt: t0}, time.Time{}, false)
	})

	run("StartJourneyConcurrent", func(t *testing.T) {
		// Runners starting journeys for one customer at once, under
		// different IDs: one starts.
		b := open(t)
		b2 := reopen(t, b)
		var wg sync.WaitGroup
		oks := make([]bool, 10)
		errs := make([]error, 10)
		for i := range oks {
			wg.Go(func() {
				be := b
				if i%2 == 1 {
					be = b2
				}
				id := fmt.Sprintf("j%d", i)
				oks[i], errs[i] = be.StartJourney(ctx, Journey{ID: id, Trigger: trig, CustomerID: "c1", StartedAt: t0},
					Timer{JourneyID: id, DueAt: t0}, t0.Add(-time.Hour))
			})
		}
		wg.Wait()
		n := 0
		for i, ok := range oks {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d journeys started for one customer, want 1", n)
		}
		if got := collectJourneys(t, b, JourneyFilter{}); len(got) != 1 {
			t.Fatalf("%d journeys stored, want 1", len(got))
		}
		if got := claim(t, b, "r", t0, time.Minute, 100); len(got) != 1 {
			t.Fatalf("%d timers stored, want 1", len(got))
		}
	})

	run("Journey", func(t *testing.T) {
		b := open(t)
		if got, err := b.Journey(ctx, "none"); err != nil || got != nil {
			t.Fatalf("Journey(none) = %+v, %v; want nil, nil", got, err)
		}
		// A journey with no event fields.
		start(t, b, Journey{ID: "j1", Trigger: trig, CustomerID: "c1", StartKey: "e", StartedAt: t0, UpdatedAt: t0}, Timer{JourneyID: "j1", DueAt: t0}, time.Time{}, true)
		got, err := b.Journey(ctx, "j1")
		if err != nil || got == nil {
			t.Fatalf("Journey(j1) = %+v, %v", got, err)
		}
		if len(got.Event) != 0 || got.ID != "j1" || got.Trigger != trig || got.CustomerID != "c1" || got.StartKey != "e" ||
			!got.StartedAt.Equal(t0) || got.StartedAt.Location() != time.UTC || got.ExitReason != "" {
			t.Errorf("Journey(j1) = %+v", got)
		}
	})

	run("ExitJourney", func(t *testing.T) {
		b := open(t)
		start(t, b, Journey{ID: "j1", Trigger: trig, CustomerID: "c1", StartedAt: t0, UpdatedAt: t0}, Timer{JourneyID: "j1", DueAt: t0.Add(time.Hour)}, time.Time{}, true)
		start(t, b, Journey{ID: "j2", Trigger: trig, CustomerID: "c2", StartedAt: t0, UpdatedAt: t0}, Timer{JourneyID: "j2", DueAt: t0.Add(time.Hour)}, time.Time{}, true)
		at := t0.Add(30 * time.Minute)
		exit := func(id string, want bool) {
			t.Helper()
			got, err := b.ExitJourney(ctx, id, "unsubscribed", at)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("ExitJourney(%s) = %v, want %v", id, got, want)
			}
		}
		exit("j1", true)
		j, _ := b.Journey(ctx, "j1")
		if j == nil || j.Status != JourneyExited || j.ExitReason != "unsubscribed" || !j.UpdatedAt.Equal(at) || j.Step != 0 {
			t.Fatalf("after ExitJourney: %+v", j)
		}
		// Again: not active any more, and nothing changes.
		if ok, err := b.ExitJourney(ctx, "j1", "other", at.Add(time.Minute)); err != nil || ok {
			t.Fatalf("second ExitJourney = %v, %v; want false", ok, err)
		}
		if j2, _ := b.Journey(ctx, "j1"); !reflect.DeepEqual(j2, j) {
			t.Fatalf("second ExitJourney changed the journey: %+v, was %+v", j2, j)
		}
		exit("none", false)
		// Its timer went with it; j2's stays.
		checkClaim(t, b, "r1", t0.Add(2*time.Hour), []Timer{{JourneyID: "j2", DueAt: t0.Add(time.Hour)}})
		// A completed journey cannot exit.
		if ok, err := b.AdvanceJourney(ctx, "j2", 0, nil, at); err != nil || !ok {
			t.Fatalf("AdvanceJourney(j2) = %v, %v", ok, err)
		}
		exit("j2", false)
		if j, _ := b.Journey(ctx, "j2"); j.Status != JourneyCompleted || j.ExitReason != "" {
			t.Fatalf("ExitJourney changed a completed journey: %+v", j)
		}
	})

	run("ExitJourneyLeasedTimer", func(t *testing.T) {
		// A journey whose timer a runner holds still exits, and the timer
		// is gone for everyone once the lease expires.
		b := open(t)
		start(t, b, Journey{ID: "j1", Trigger: trig, CustomerID: "c1", StartedAt: t0}, Timer{JourneyID: "j1", DueAt: t0}, time.Time{}, true)
		checkClaim(t, b, "r1", t0, []Timer{{JourneyID: "j1", DueAt: t0}})
		if ok, err := b.ExitJourney(ctx, "j1", "stop", t0); err != nil || !ok {
			t.Fatalf("ExitJourney = %v, %v", ok, err)
		}
		checkClaim(t, b, "r2", t0.Add(24*time.Hour), nil)
		if ok, err := b.AdvanceJourney(ctx, "j1", 0, &Timer{JourneyID: "j1", Step: 1, DueAt: t0}, t0); err != nil || ok {
			t.Fatalf("AdvanceJourney of an exited journey = %v, %v; want false", ok, err)
		}
		checkClaim(t, b, "r2", t0.Add(48*time.Hour), nil)
	})

	run("AdvanceJourney", func(t *testing.T) {
		b := open(t)
		start(t, b, Journey{ID: "j1", Trigger: trig, CustomerID: "c1", StartedAt: t0, UpdatedAt: t0}, Timer{JourneyID: "j1", DueAt: t0}, time.Time{}, true)
		advance := func(id string, step int, next *Timer, at time.Time, want bool) {
			t.Helper()
			got, err := b.AdvanceJourney(ctx, id, step, next, at)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("AdvanceJourney(%s, %d) = %v, want %v", id, step, got, want)
			}
		}
		checkClaim(t, b, "r1", t0, []Timer{{JourneyID: "j1", DueAt: t0}})
		t1 := t0.Add(time.Minute)
		next := &Timer{JourneyID: "j1", Step: 1, DueAt: t0.Add(time.Hour)}
		// Not at step 1 yet.
		advance("j1", 1, &Timer{JourneyID: "j1", Step: 2, DueAt: t0}, t1, false)
		advance("j1", 0, next, t1, true)
		j, _ := b.Journey(ctx, "j1")
		if j.Status != JourneyActive || j.Step != 1 || !j.UpdatedAt.Equal(t1) {
			t.Fatalf("after AdvanceJourney to step 1: %+v", j)
		}
		// The same step again (another runner, or a replay) changes nothing.
		advance("j1", 0, &Timer{JourneyID: "j1", Step: 1, DueAt: t0}, t1.Add(time.Minute), false)
		if j2, _ := b.Journey(ctx, "j1"); !reflect.DeepEqual(j2, j) {
			t.Fatalf("repeated AdvanceJourney changed the journey: %+v, was %+v", j2, j)
		}
		// The old timer is gone and the new one is free to claim, though
		// r1's lease on step 0 has not expired.
		checkClaim(t, b, "r2", t0.Add(time.Minute), nil)
		checkClaim(t, b, "r2", t0.Add(time.Hour), []Timer{*next})
		// The last step: completed, Step is the number of steps.
		t2 := t0.Add(2 * time.Hour)
		advance("j1", 1, nil, t2, true)
		j, _ = b.Journey(ctx, "j1")
		if j.Status != JourneyCompleted || j.Step != 2 || !j.UpdatedAt.Equal(t2) || j.ExitReason != "" {
			t.Fatalf("after the last AdvanceJourney: %+v, want completed at step 2", j)
		}
		checkClaim(t, b, "r3", t0.Add(100*time.Hour), nil)
		advance("j1", 1, nil, t2, false)
		advance("j1", 2, nil, t2, false)
		advance("none", 0, nil, t2, false)
		// A completed journey frees the customer for a new one.
		start(t, b, Journey{ID: "j2", Trigger: trig, CustomerID: "c1", StartedAt: t2}, Timer{JourneyID: "j2", DueAt: t2}, t0, true)
	})

	run("AdvanceJourneyConcurrent", func(t *testing.T) {
		// Runners advancing the same step at once: one does it.
		b := open(t)
		b2 := reopen(t, b)
		start(t, b, Journey{ID: "j1", Trigger: trig, CustomerID: "c1", StartedAt: t0}, Timer{JourneyID: "j1", DueAt: t0}, time.Time{}, true)
		var wg sync.WaitGroup
		oks := make([]bool, 10)
		errs := make([]error, 10)
		for i := range oks {
			wg.Go(func() {
				be := b
				if i%2 == 1 {
					be = b2
				}
				oks[i], errs[i] = be.AdvanceJourney(ctx, "j1", 0, &Timer{JourneyID: "j1", Step: 1, DueAt: t0.Add(time.Duration(i) * time.Minute)}, t0)
			})
		}
		wg.Wait()
		n := 0
		for i, ok := range oks {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d runners advanced the same step, want 1", n)
		}
		if got := claim(t, b, "r", t0.Add(time.Hour), time.Minute, 100); len(got) != 1 || got[0].Step != 1 {
			t.Fatalf("timers after racing advances = %+v, want one at step 1", got)
		}
	})

	run("ClaimTimers", func(t *testing.T) {
		b := open(t)
		for i := range 5 {
			id := fmt.Sprintf("j%d", i)
			start(t, b, Journey{ID: id, Trigger: trig, CustomerID: fmt.Sprint("c", i), StartedAt: t0},
				Timer{JourneyID: id, DueAt: t0.Add(time.Duration(i) * time.Minute)}, time.Time{}, true)
		}
		timer := func(i int) Timer {
			return Timer{JourneyID: fmt.Sprintf("j%d", i), DueAt: t0.Add(time.Duration(i) * time.Minute)}
		}
		lease := 10 * time.Minute
		// Nothing is due before t0.
		if got := claim(t, b, "r1", t0.Add(-time.Microsecond), lease, 10); len(got) != 0 {
			t.Fatalf("ClaimTimers before anything is due = %+v", got)
		}
		// Due at or before now: j0, j1, j2; limit 2 hands out two of them.
		now := t0.Add(2 * time.Minute)
		got := claim(t, b, "r1", now, lease, 2)
		if len(got) != 2 {
			t.Fatalf("ClaimTimers(limit 2) = %+v", got)
		}
		got = append(got, claim(t, b, "r1", now, lease, 10)...)
		sortTimers(got)
		if want := []Timer{timer(0), timer(1), timer(2)}; !reflect.DeepEqual(got, want) {
			t.Fatalf("ClaimTimers at t0+2m = %+v, want %+v", got, want)
		}
		// Leased: nobody gets them again until the lease expires, not even
		// r1; r2 gets only what fell due since.
		if got := claim(t, b, "r1", now, lease, 10); len(got) != 0 {
			t.Fatalf("leased timers handed out again: %+v", got)
		}
		b2 := reopen(t, b)
		checkClaim(t, b2, "r2", now.Add(lease-time.Second), []Timer{timer(3), timer(4)})
		// After the lease, r1's timers (it died) go to r2; r2's, claimed
		// later, are still leased.
		checkClaim(t, b2, "r2", now.Add(lease+time.Second), []Timer{timer(0), timer(1), timer(2)})
		checkClaim(t, b, "r1", now.Add(lease+2*time.Second), nil)
		// A timer's lease runs from the claim that took it: r2 took j3 and
		// j4 a minute before j0-j2.
		checkClaim(t, b, "r1", now.Add(lease+time.Minute), []Timer{timer(3), timer(4)})
	})

	run("ClaimTimersConcurrent", func(t *testing.T) {
		b := open(t)
		const n = 300
		for i := range n {
			id := fmt.Sprintf("j%04d", i)
			start(t, b, Journey{ID: id, Trigger: trig, CustomerID: id, StartedAt: t0},
				Timer{JourneyID: id, Step: 0, DueAt: t0.Add(time.Duration(i%17) * time.Second)}, time.Time{}, true)
		}
		b2 := reopen(t, b)
		claimed := claimAll(t, b, b2, func(be Backend, owner string) ([]string, error) {
			ts, err := be.ClaimTimers(ctx, owner, t0.Add(time.Minute), time.Hour, 7)
			ids := make([]string, len(ts))
			for i, tm := range ts {
				ids[i] = tm.JourneyID
			}
			return ids, err
		})
		checkDisjointCover(t, claimed, n, func(i int) string { return fmt.Sprintf("j%04d", i) })
	})

	run("ClaimDueSends", func(t *testing.T) {
		b := open(t)
		deferred := func(key string, due time.Time) Send {
			s := send(key, "trigger.cart_abandon", "c-"+key, SendDeferred, t0)
			s.DueAt = due
			return s
		}
		rows := []Send{
			deferred("k1", t0),
			deferred("k2", t0.Add(-time.Hour)),
			deferred("k3", t0.Add(time.Minute)),
			deferred("k4", t0.Add(time.Microsecond)),
			deferred("k5", t0.Add(-time.Minute)),
			send("k6", "trigger.cart_abandon", "c6", SendPlanned, t0),
			send("k7", "trigger.cart_abandon", "c7", SendSent, t0),
		}
		rows[5].DueAt, rows[6].DueAt = t0.Add(-time.Hour), t0.Add(-time.Hour)
		if err := b.RecordSends(ctx, rows); err != nil {
			t.Fatal(err)
		}
		lease := 5 * time.Minute
		// Deferred rows due at or before now, in key order, to the limit.
		checkDue(t, b, "r1", t0, lease, 2, []Send{rows[0], rows[1]})
		checkDue(t, b, "r1", t0, lease, 10, []Send{rows[4]})
		// Leased rows are not handed out again before the lease expires.
		checkDue(t, b, "r1", t0, lease, 10, nil)
		b2 := reopen(t, b)
		checkDue(t, b2, "r2", t0.Add(lease-time.Second), lease, 10, []Send{rows[2], rows[3]})
		// r1 died: its rows go to r2 once the lease expires.
		checkDue(t, b2, "r2", t0.Add(lease+time.Second), lease, 10, []Send{rows[0], rows[1], rows[4]})

		// UpdateSends ends the lease: a row put back to deferred (a retry)
		// is free at once; a sent row is not deferred any more.
		now := t0.Add(lease + 2*time.Second)
		if err := b2.UpdateSends(ctx, []Send{
			{Key: "k1", Status: SendDeferred, Error: "429 too many requests", UpdatedAt: now},
			{Key: "k2", Status: SendSent, ProviderMessageID: "m2", UpdatedAt: now},
		}); err != nil {
			t.Fatal(err)
		}
		want := rows[0]
		want.Error, want.UpdatedAt = "429 too many requests", now
		checkDue(t, b, "r1", now, lease, 10, []Send{want})
		// Only rows past their leases remain: none yet.
		checkDue(t, b, "r3", now, lease, 10, nil)
		// Nothing changed in the rows themselves but what UpdateSends set.
		got := collectSends(t, b, "trigger.cart_abandon")
		if got[1].Status != SendSent || got[1].ProviderMessageID != "m2" || got[2] != rows[2] || got[5] != rows[5] {
			t.Fatalf("ledger after claims: %+v", got)
		}
	})

	run("SkipDeferredSends", func(t *testing.T) {
		b := open(t)
		deferred := func(key, campaign string) Send {
			s := send(key, campaign, "c-"+key, SendDeferred, t0)
			s.DueAt = t0
			return s
		}
		rows := []Send{
			deferred("a1", "campaign.a"), deferred("a2", "campaign.a"), deferred("a3", "campaign.a"),
			deferred("a4", "campaign.a"), deferred("b1", "campaign.b"),
			send("a5", "campaign.a", "c5", SendSent, t0),
		}
		if err := b.RecordSends(ctx, rows); err != nil {
			t.Fatal(err)
		}
		// A runner holds a1; it will record a1's outcome itself.
		checkDue(t, b, "r1", t0, time.Hour, 1, []Send{rows[0]})
		now := t0.Add(time.Minute)
		total := 0
		for {
			n, err := b.SkipDeferredSends(ctx, "campaign.a", "cancelled", now, 2)
			if err != nil {
				t.Fatal(err)
			}
			if n > 2 {
				t.Fatalf("SkipDeferredSends(limit 2) skipped %d", n)
			}
			if n == 0 {
				break
			}
			total += n
		}
		if total != 3 {
			t.Errorf("skipped %d rows, want 3 (a2, a3, a4)", total)
		}
		// The runner's outcome for a1 comes after the cancel and stands.
		if err := b.UpdateSends(ctx, []Send{{Key: "a1", Status: SendSent, ProviderMessageID: "m1", UpdatedAt: now}}); err != nil {
			t.Fatal(err)
		}
		got := map[string]Send{}
		for _, s := range append(collectSends(t, b, "campaign.a"), collectSends(t, b, "campaign.b")...) {
			got[s.Key] = s
		}
		for key, want := range map[string]string{"a1": SendSent, "a2": SendSkipped, "a3": SendSkipped, "a4": SendSkipped, "a5": SendSent, "b1": SendDeferred} {
			if got[key].Status != want {
				t.Errorf("%s: status %s, want %s", key, got[key].Status, want)
			}
		}
		if s := got["a2"]; s.Error != "cancelled" || !s.UpdatedAt.Equal(now) {
			t.Errorf("a2 after the skip: %+v", s)
		}
		// A row put back to deferred (a retry) has no lease any more: the
		// next cancel skips it.
		if err := b.UpdateSends(ctx, []Send{{Key: "a1", Status: SendDeferred, UpdatedAt: now}}); err != nil {
			t.Fatal(err)
		}
		if n, err := b.SkipDeferredSends(ctx, "campaign.a", "cancelled", now, 10); err != nil || n != 1 {
			t.Errorf("SkipDeferredSends after UpdateSends ended the lease: %d, %v; want 1", n, err)
		}
	})

	run("ClaimDueSendsConcurrent", func(t *testing.T) {
		b := open(t)
		const n = 500
		var rows []Send
		for i := range n {
			s := send(fmt.Sprintf("k%04d", i), "campaign.a", fmt.Sprint("c", i), SendDeferred, t0)
			s.DueAt = t0.Add(time.Duration(i%13) * time.Second)
			rows = append(rows, s)
		}
		// Rows that are not due and not deferred stay where they are.
		for i := range 50 {
			s := send(fmt.Sprintf("z%04d", i), "campaign.a", "c", SendDeferred, t0)
			s.DueAt = t0.Add(time.Hour)
			rows = append(rows, s, send(fmt.Sprintf("p%04d", i), "campaign.a", "c", SendPlanned, t0))
		}
		if err := b.RecordSends(ctx, rows); err != nil {
			t.Fatal(err)
		}
		b2 := reopen(t, b)
		claimed := claimAll(t, b, b2, func(be Backend, owner string) ([]string, error) {
			ss, err := be.ClaimDueSends(ctx, owner, t0.Add(time.Minute), time.Hour, 9, nil)
			keys := make([]string, len(ss))
			for i, s := range ss {
				keys[i] = s.Key
			}
			if !slices.IsSorted(keys) {
				return nil, fmt.Errorf("ClaimDueSends returned keys out of order: %v", keys)
			}
			return keys, err
		})
		checkDisjointCover(t, claimed, n, func(i int) string { return fmt.Sprintf("k%04d", i) })
	})

	run("Lead", func(t *testing.T) {
		b := open(t)
		b2 := reopen(t, b) // another runner
		lead := func(be Backend, name, owner string, want bool) {
			t.Helper()
			got, err := be.Lead(ctx, name, owner, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("Lead(%s, %s) = %v, want %v", name, owner, got, want)
			}
		}
		lead(b, "scheduler", "a", true)
		lead(b2, "scheduler", "b", false)
		// The leader keeps it.
		lead(b, "scheduler", "a", true)
		lead(b2, "scheduler", "b", false)
		// Names lead apart.
		lead(b2, "other", "b", true)
		lead(b, "other", "a", false)
		// Resigning what one does not hold changes nothing.
		if err := b2.Resign(ctx, "scheduler", "b"); err != nil {
			t.Fatal(err)
		}
		lead(b2, "scheduler", "b", false)
		lead(b, "scheduler", "a", true)
		// After a resigns, b can lead, and then a cannot.
		if err := b.Resign(ctx, "scheduler", "a"); err != nil {
			t.Fatal(err)
		}
		lead(b2, "scheduler", "b", true)
		lead(b, "scheduler", "a", false)
		lead(b2, "other", "b", true)
		// Resigning twice is harmless.
		if err := b.Resign(ctx, "scheduler", "a"); err != nil {
			t.Fatal(err)
		}
		lead(b2, "scheduler", "b", true)
	})

	run("LeadConcurrent", func(t *testing.T) {
		// Runners asking at once: one leads.
		b := open(t)
		b2 := reopen(t, b)
		var wg sync.WaitGroup
		oks := make([]bool, 2)
		errs := make([]error, 2)
		for i, be := range []Backend{b, b2} {
			wg.Go(func() { oks[i], errs[i] = be.Lead(ctx, "scheduler", fmt.Sprint("runner-", i), time.Minute) })
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatal(errors.Join(errs...))
		}
		if oks[0] == oks[1] {
			t.Fatalf("Lead by two runners at once = %v", oks)
		}
	})

	run("LeaderGone", func(t *testing.T) {
		// A leader that stops renewing (SQLite: its lease lasts ttl) or
		// whose connection goes (PostgreSQL) leaves the lead to another.
		b := open(t)
		b2 := reopen(t, b)
		if _, ok := b.(*SQLite); ok {
			const ttl = 300 * time.Millisecond
			if ok, err := b.Lead(ctx, "scheduler", "a", ttl); err != nil || !ok {
				t.Fatalf("Lead(a) = %v, %v", ok, err)
			}
			if ok, err := b2.Lead(ctx, "scheduler", "b", ttl); err != nil || ok {
				t.Fatalf("Lead(b) while a's lease lasts = %v, %v; want false", ok, err)
			}
			time.Sleep(ttl + 100*time.Millisecond)
		} else {
			b3, err := tryReopen(b)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := b3.Lead(ctx, "scheduler", "a", time.Minute); err != nil || !ok {
				t.Fatalf("Lead(a) = %v, %v", ok, err)
			}
			if ok, err := b2.Lead(ctx, "scheduler", "b", time.Minute); err != nil || ok {
				t.Fatalf("Lead(b) while a leads = %v, %v; want false", ok, err)
			}
			if err := b3.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := b2.Lead(ctx, "scheduler", "b", time.Minute); err != nil || !ok {
			t.Fatalf("Lead(b) after a is gone = %v, %v; want true", ok, err)
		}
		if ok, err := b.Lead(ctx, "scheduler", "a", time.Minute); err != nil || ok {
			t.Fatalf("Lead(a) after b took over = %v, %v; want false", ok, err)
		}
	})

	run("Journeys", func(t *testing.T) {
		b := open(t)
		for _, j := range []Journey{
			{ID: "j5", Trigger: "trigger.b", CustomerID: "c1", StartedAt: t0},
			{ID: "j4", Trigger: trig, CustomerID: "c2", StartedAt: t0.Add(time.Minute)},
			{ID: "j3", Trigger: trig, CustomerID: "c1", StartedAt: t0.Add(time.Minute)},
			{ID: "j2", Trigger: trig, CustomerID: "c3", StartedAt: t0.Add(-time.Minute)},
			{ID: "j1", Trigger: "trigger.b", CustomerID: "c2", StartedAt: t0.Add(time.Hour)},
		} {
			start(t, b, j, Timer{JourneyID: j.ID, DueAt: t0}, time.Time{}, true)
		}
		if ok, err := b.ExitJourney(ctx, "j4", "bye", t0); err != nil || !ok {
			t.Fatal(ok, err)
		}
		ids := func(f JourneyFilter) []string {
			var out []string
			for _, j := range collectJourneys(t, b, f) {
				out = append(out, j.ID)
			}
			return out
		}
		for _, tc := range []struct {
			f    JourneyFilter
			want []string
		}{
			// trigger.b < trigger.cart_abandon; then start time, then id.
			{JourneyFilter{}, []string{"j5", "j1", "j2", "j3", "j4"}},
			{JourneyFilter{Trigger: trig}, []string{"j2", "j3", "j4"}},
			{JourneyFilter{CustomerID: "c1"}, []string{"j5", "j3"}},
			{JourneyFilter{Status: JourneyActive}, []string{"j5", "j1", "j2", "j3"}},
			{JourneyFilter{Status: JourneyExited}, []string{"j4"}},
			{JourneyFilter{Trigger: trig, CustomerID: "c2", Status: JourneyExited}, []string{"j4"}},
			{JourneyFilter{Trigger: trig, CustomerID: "c2", Status: JourneyActive}, nil},
			{JourneyFilter{Trigger: "trigger.none"}, nil},
		} {
			if got := ids(tc.f); !slices.Equal(got, tc.want) {
				t.Errorf("Journeys(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		}
		// Journeys hands over whole journeys.
		for _, j := range collectJourneys(t, b, JourneyFilter{CustomerID: "c2", Status: JourneyExited}) {
			if j.ExitReason != "bye" || j.Trigger != trig || !j.StartedAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("Journeys gave %+v", j)
			}
		}
		// fn's error stops the walk and is returned.
		stop := errors.New("stop")
		n := 0
		err := b.Journeys(ctx, JourneyFilter{}, func(Journey) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("Journeys with fn failing: err = %v after %d calls; want stop after 1", err, n)
		}
		// fn may call other methods.
		err = b.Journeys(ctx, JourneyFilter{Status: JourneyActive}, func(j Journey) error {
			_, err := b.ExitJourney(ctx, j.ID, "sweep", t0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(JourneyFilter{Status: JourneyExited}); len(got) != 5 {
			t.Fatalf("exited journeys after the sweep: %v", got)
		}
	})

	run("JourneysMany", func(t *testing.T) {
		// More journeys than any one page, in order.
		b := open(t)
		const n = pageRows + 17
		for i := range n {
			id := fmt.Sprintf("j%05d", i)
			// Same start time for half of them: ordered by id.
			at := t0.Add(time.Duration(i/2) * time.Second)
			start(t, b, Journey{ID: id, Trigger: trig, CustomerID: id, StartedAt: at}, Timer{JourneyID: id, DueAt: at}, time.Time{}, true)
		}
		got := collectJourneys(t, b, JourneyFilter{Trigger: trig})
		if len(got) != n {
			t.Fatalf("Journeys returned %d, want %d", len(got), n)
		}
		for i, j := range got {
			if want := fmt.Sprintf("j%05d", i); j.ID != want {
				t.Fatalf("Journeys[%d] = %s, want %s", i, j.ID, want)
			}
		}
	})

	run("JourneyCounts", func(t *testing.T) {
		b := open(t)
		mk := func(id, trigger string, due time.Time) {
			t.Helper()
			start(t, b, Journey{ID: id, Trigger: trigger, CustomerID: id, StartedAt: t0}, Timer{JourneyID: id, DueAt: due}, time.Time{}, true)
		}
		now := t0.Add(time.Hour)
		mk("a1", trig, now.Add(time.Minute))        // waiting, step 0
		mk("a2", trig, now.Add(time.Hour))          // waiting, step 0
		mk("a3", trig, now)                         // due at now: active, step 0
		mk("a4", trig, t0)                          // due: active, step 0
		mk("a5", trig, t0)                          // advanced to step 1, due later: waiting
		mk("a6", trig, t0)                          // advanced to step 1, due: active
		mk("a7", trig, t0)                          // exited at step 0
		mk("a8", trig, t0)                          // completed after step 0: step 1
		mk("a9", trig, t0)                          // exited at step 1
		mk("b1", "trigger.b", now.Add(time.Minute)) // waiting, step 0
		mk("b2", "trigger.b", t0)                   // completed after step 1: step 2
		advanceOK(t, b, "a5", 0, &Timer{JourneyID: "a5", Step: 1, DueAt: now.Add(time.Second)})
		advanceOK(t, b, "a6", 0, &Timer{JourneyID: "a6", Step: 1, DueAt: now.Add(-time.Second)})
		advanceOK(t, b, "a8", 0, nil)
		advanceOK(t, b, "a9", 0, &Timer{JourneyID: "a9", Step: 1, DueAt: now})
		advanceOK(t, b, "b2", 0, &Timer{JourneyID: "b2", Step: 1, DueAt: t0})
		advanceOK(t, b, "b2", 1, nil)
		for _, id := range []string{"a7", "a9"} {
			if ok, err := b.ExitJourney(ctx, id, "x", now); err != nil || !ok {
				t.Fatal(ok, err)
			}
		}
		// A leased timer does not change how its journey counts.
		claim(t, b, "r1", now, time.Hour, 100)
		got, err := b.JourneyCounts(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		sortCounts(got)
		want := []JourneyCount{
			{Trigger: "trigger.b", Status: JourneyCompleted, Step: 2, N: 1},
			{Trigger: "trigger.b", Status: "waiting", Step: 0, N: 1},
			{Trigger: trig, Status: JourneyActive, Step: 0, N: 2},
			{Trigger: trig, Status: JourneyActive, Step: 1, N: 1},
			{Trigger: trig, Status: JourneyCompleted, Step: 1, N: 1},
			{Trigger: trig, Status: JourneyExited, Step: 0, N: 1},
			{Trigger: trig, Status: JourneyExited, Step: 1, N: 1},
			{Trigger: trig, Status: "waiting", Step: 0, N: 2},
			{Trigger: trig, Status: "waiting", Step: 1, N: 1},
		}
		sortCounts(want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("JourneyCounts =\n%+v\nwant\n%+v", got, want)
		}
		// Later, everything active is due.
		got, err = b.JourneyCounts(ctx, now.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range got {
			if c.Status == "waiting" {
				t.Fatalf("JourneyCounts a day later still counts waiting: %+v", got)
			}
		}
		// A new state counts nothing.
		if got, err := open(t).JourneyCounts(ctx, now); err != nil || len(got) != 0 {
			t.Fatalf("JourneyCounts of a new state = %+v, %v", got, err)
		}
	})

	run("Refuses", func(t *testing.T) {
		// What lacks a name is refused rather than stored under "".
		b := open(t)
		for name, err := range map[string]error{
			"PutValue":           b.PutValue(ctx, "", []byte("x")),
			"PutValueIfAbsent":   second(b.PutValueIfAbsent(ctx, "", []byte("x"))),
			"MarkSeen":           second(b.MarkSeen(ctx, trig, "", "ev", t0)),
			"AddWindowEvent":     second(b.AddWindowEvent(ctx, WindowEvent{Trigger: trig, Key: "e1", At: t0}, t0)),
			"StartJourney":       second(b.StartJourney(ctx, Journey{Trigger: trig, CustomerID: "c1", StartedAt: t0}, Timer{DueAt: t0}, time.Time{})),
			"ClaimTimers":        second(b.ClaimTimers(ctx, "", t0, time.Minute, 10)),
			"ClaimDueSends":      second(b.ClaimDueSends(ctx, "", t0, time.Minute, 10, nil)),
			"Lead without name":  second(b.Lead(ctx, "", "a", time.Minute)),
			"Lead without owner": second(b.Lead(ctx, "scheduler", "", time.Minute)),
		} {
			if err == nil {
				t.Errorf("%s with a name missing: no error", name)
			}
		}
		if got := collectJourneys(t, b, JourneyFilter{}); len(got) != 0 {
			t.Errorf("a refused journey was stored: %+v", got)
		}
	})

	run("Audit", func(t *testing.T) {
		b := open(t)
		recs := []AuditRecord{
			{At: t0, Kind: "unsubscribe", CustomerID: "c1", Subject: "campaign.winback_dec", Channel: "email", Detail: "list-unsubscribe"},
			{At: t0.Add(time.Minute), Kind: "click", CustomerID: "c2", Subject: "campaign.winback_dec", Channel: "email", Detail: "shop.example/cart"},
			{At: t0.Add(time.Minute), Kind: "open", CustomerID: "c1", Subject: "campaign.winback_dec", Channel: "email"},
		}
		if err := b.AddAudit(ctx, recs[:2]); err != nil {
			t.Fatal(err)
		}
		if err := b.AddAudit(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := b.AddAudit(ctx, recs[2:]); err != nil {
			t.Fatal(err)
		}
		stop := AuditRecord{At: t0.Add(2 * time.Minute).Add(1500 * time.Nanosecond), Kind: "stop", CustomerID: "c1", Channel: "sms"}
		if err := reopen(t, b).AddAudit(ctx, []AuditRecord{stop}); err != nil {
			t.Fatal(err)
		}
		stop.At = t0.Add(2 * time.Minute).Add(time.Microsecond)
		all := append(slices.Clone(recs), stop)
		checkAudit(t, b, "", all)
		checkAudit(t, b, "c1", []AuditRecord{recs[0], recs[2], stop})
		checkAudit(t, b, "c2", []AuditRecord{recs[1]})
		checkAudit(t, b, "nobody", nil)
		// fn's error stops the walk and is returned.
		errStop := errors.New("stop")
		n := 0
		if err := b.Audit(ctx, "", func(AuditRecord) error { n++; return errStop }); !errors.Is(err, errStop) || n != 1 {
			t.Fatalf("Audit with fn failing: err = %v after %d calls; want stop after 1", err, n)
		}
	})

	run("AuditMany", func(t *testing.T) {
		// Many records in one call, oldest first and in order of adding
		// for the same instant.
		b := open(t)
		const n = 2*pageRows + 11
		recs := make([]AuditRecord, n)
		for i := range recs {
			recs[i] = AuditRecord{At: t0.Add(time.Duration(i/3) * time.Millisecond), Kind: "click", CustomerID: fmt.Sprint("c", i%5), Detail: fmt.Sprint("d", i)}
		}
		if err := b.AddAudit(ctx, recs); err != nil {
			t.Fatal(err)
		}
		checkAudit(t, b, "", recs)
	})
}

// second is the error of a call that returns a value and an error.
func second[T any](_ T, err error) error { return err }

// start calls StartJourney and checks what it reports.
func start(t *testing.T, b Backend, j Journey, first Timer, notBefore time.Time, want bool) {
	t.Helper()
	got, err := b.StartJourney(context.Background(), j, first, notBefore)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("StartJourney(%s for %s/%s, notBefore %s) = %v, want %v", j.ID, j.Trigger, j.CustomerID, notBefore, got, want)
	}
}

func advanceOK(t *testing.T, b Backend, id string, step int, next *Timer) {
	t.Helper()
	ok, err := b.AdvanceJourney(context.Background(), id, step, next, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	if err != nil || !ok {
		t.Fatalf("AdvanceJourney(%s, %d) = %v, %v", id, step, ok, err)
	}
}

func checkJourney(t *testing.T, b Backend, want Journey) {
	t.Helper()
	got, err := b.Journey(context.Background(), want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("Journey(%s) =\n%+v\nwant\n%+v", want.ID, got, want)
	}
}

func collectJourneys(t *testing.T, b Backend, f JourneyFilter) []Journey {
	t.Helper()
	var out []Journey
	if err := b.Journeys(context.Background(), f, func(j Journey) error { out = append(out, j); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkValue(t *testing.T, b Backend, key, want string) {
	t.Helper()
	v, ok, err := b.Value(context.Background(), key)
	if err != nil || !ok || string(v) != want {
		t.Fatalf("Value(%s) = %q, %v, %v; want %q", key, v, ok, err, want)
	}
}

func claim(t *testing.T, b Backend, owner string, now time.Time, lease time.Duration, limit int) []Timer {
	t.Helper()
	got, err := b.ClaimTimers(context.Background(), owner, now, lease, limit)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > limit {
		t.Fatalf("ClaimTimers(limit %d) returned %d timers", limit, len(got))
	}
	return got
}

// checkClaim claims timers for a minute and compares them, in any order,
// with want.
func checkClaim(t *testing.T, b Backend, owner string, now time.Time, want []Timer) {
	t.Helper()
	got := claim(t, b, owner, now, time.Minute, 1000)
	sortTimers(got)
	want = slices.Clone(want)
	sortTimers(want)
	if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("ClaimTimers(%s, %s) = %+v, want %+v", owner, now.Format(time.TimeOnly), got, want)
	}
	for _, tm := range got {
		if tm.DueAt.Location() != time.UTC {
			t.Fatalf("timer DueAt %s is not in UTC", tm.DueAt)
		}
	}
}

func checkDue(t *testing.T, b Backend, owner string, now time.Time, lease time.Duration, limit int, want []Send) {
	t.Helper()
	got, err := b.ClaimDueSends(context.Background(), owner, now, lease, limit, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("ClaimDueSends(%s, %s, limit %d) =\n%+v\nwant\n%+v", owner, now.Format(time.TimeOnly), limit, got, want)
	}
}

func checkAudit(t *testing.T, b Backend, customer string, want []AuditRecord) {
	t.Helper()
	var got []AuditRecord
	if err := b.Audit(context.Background(), customer, func(r AuditRecord) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("Audit(%q) =\n%+v\nwant\n%+v", customer, got, want)
	}
}

func sortTimers(ts []Timer) {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].JourneyID != ts[j].JourneyID {
			return ts[i].JourneyID < ts[j].JourneyID
		}
		return ts[i].Step < ts[j].Step
	})
}

func sortCounts(cs []JourneyCount) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Trigger != b.Trigger {
			return a.Trigger < b.Trigger
		}
		if a.Status != b.Status {
			return a.Status < b.Status
		}
		return a.Step < b.Step
	})
}

// claimAll has six goroutines on b and two on b2 (another runner on the
// same store) claim until nothing is left, and returns what each claim
// handed out, by owner.
func claimAll(t *testing.T, b, b2 Backend, claim func(be Backend, owner string) ([]string, error)) map[string][]string {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	claimed := map[string][]string{}
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			be, owner := b, fmt.Sprint("runner-a/", w)
			if w >= 6 {
				be, owner = b2, fmt.Sprint("runner-b/", w)
			}
			// Each claim takes at least one row, so a loop that goes on
			// longer than there are claims to make hands rows out twice.
			for range 10000 {
				got, err := claim(be, owner)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				claimed[owner] = append(claimed[owner], got...)
				mu.Unlock()
			}
			errs <- fmt.Errorf("%s never ran out of rows to claim", owner)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Nothing is left for a latecomer either.
	if got, err := claim(b2, "latecomer"); err != nil || len(got) != 0 {
		t.Fatalf("after everything was claimed, a latecomer got %v, %v", got, err)
	}
	return claimed
}

// checkDisjointCover checks that claimed hands out each of the n ids
// exactly once.
func checkDisjointCover(t *testing.T, claimed map[string][]string, n int, id func(int) string) {
	t.Helper()
	who := map[string]string{}
	for owner, ids := range claimed {
		for _, x := range ids {
			if prev, ok := who[x]; ok {
				t.Fatalf("%s was claimed by %s and by %s", x, prev, owner)
			}
			who[x] = owner
		}
	}
	for i := range n {
		if _, ok := who[id(i)]; !ok {
			t.Fatalf("%s was never claimed", id(i))
		}
	}
	if len(who) != n {
		t.Fatalf("%d ids claimed, want %d", len(who), n)
	}
	if len(claimed) < 2 {
		t.Logf("only %d owners claimed anything", len(claimed))
	}
}
