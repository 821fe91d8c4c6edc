package state

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestRuntimeBatches(t *testing.T) {
	for name, open := range map[string]func(testing.TB) Backend{"SQLite": openSQLite, "Postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
			add := func(trig, cust, key, dedupe string, m int, within time.Duration) WindowAdd {
				return WindowAdd{Event: WindowEvent{Trigger: trig, CustomerID: cust, Key: key, At: at(m)}, DedupeKey: dedupe,
					Window: within > 0, Since: at(m).Add(-within)}
			}
			t.Run("WindowsAndDedupe", func(t *testing.T) {
				b := open(t)
				h := time.Hour
				res, err := b.AddWindowEvents(ctx, []WindowAdd{
					add("trigger.a", "c1", "e1", "e1", 0, h),
					add("trigger.a", "c1", "e2", "e2", 10, h),
					add("trigger.a", "c1", "e2", "e2", 10, h), // the same event again: counted once
					add("trigger.a", "c1", "e3", "e2", 20, h), // another event with e2's dedupe key
					add("trigger.a", "c2", "e4", "", 15, h),   // another customer
					add("trigger.b", "c1", "e5", "e1", 20, h), // another trigger: its own keys
					add("trigger.a", "c1", "e6", "e6", 80, h), // e1 has left the window
					add("trigger.a", "c1", "e7", "", 5, h),    // late: counted in the window ending at it
					add("trigger.a", "c3", "e8", "e8", 30, 0), // no threshold: dedupe only
				})
				if err != nil {
					t.Fatal(err)
				}
				// The batch's events are all added, then each is counted in
				// the window that ends at it: e7, late, counts for e2.
				want := []WindowResult{{Count: 1}, {Count: 3}, {Count: 3}, {Duplicate: true}, {Count: 1}, {Count: 1}, {Count: 1}, {Count: 2}, {}}
				for i := range want {
					if res[i] != want[i] {
						t.Errorf("event %d: %+v, want %+v", i, res[i], want[i])
					}
				}
				// A replay of the batch's first event after a crash is not a
				// duplicate; another event with its key still is.
				res, err = b.AddWindowEvents(ctx, []WindowAdd{add("trigger.a", "c1", "e1", "e1", 0, h), add("trigger.a", "c9", "e9", "e1", 1, h)})
				if err != nil {
					t.Fatal(err)
				}
				if res[0].Duplicate || !res[1].Duplicate || res[0].Count != 1 {
					t.Errorf("replay: %+v", res)
				}
			})
			t.Run("StartJourneys", func(t *testing.T) {
				b := open(t)
				if _, err := b.AddWindowEvents(ctx, []WindowAdd{add("trigger.a", "c1", "e1", "", 0, time.Hour), add("trigger.a", "c2", "e2", "", 0, time.Hour)}); err != nil {
					t.Fatal(err)
				}
				js := func(id, cust string, m int) JourneyStart {
					return JourneyStart{Journey: Journey{ID: id, Trigger: "trigger.a", CustomerID: cust, StartKey: id, StartedAt: at(m), Event: []byte(`{"k":1}`)},
						First: Timer{JourneyID: id, DueAt: at(m + 60)}, NotBefore: at(m).Add(-72 * time.Hour), ClearTo: at(m)}
				}
				ok, err := b.StartJourneys(ctx, []JourneyStart{js("j1", "c1", 1), js("j2", "c1", 2), js("j3", "c2", 1)})
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(ok) != "[true false true]" {
					t.Fatalf("started %v, want [true false true]: one active journey per customer", ok)
				}
				// The refused start cleared the window all the same.
				res, err := b.AddWindowEvents(ctx, []WindowAdd{add("trigger.a", "c1", "e3", "", 3, time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				if res[0].Count != 1 {
					t.Errorf("after the starts the window holds %d events, want 1", res[0].Count)
				}
				j, err := b.Journey(ctx, "j1")
				if err != nil || j == nil || j.Status != JourneyActive || string(j.Event) != `{"k":1}` {
					t.Fatalf("journey j1 = %+v, %v", j, err)
				}
				tm, err := b.ClaimTimers(ctx, "r", at(61), time.Minute, 10)
				if err != nil || len(tm) != 2 {
					t.Fatalf("claimed %v, %v; want the timers of j1 and j3", tm, err)
				}
				// Again after a crash: nothing new.
				ok, err = b.StartJourneys(ctx, []JourneyStart{js("j1", "c1", 1)})
				if err != nil || ok[0] {
					t.Fatalf("starting j1 again: %v, %v", ok, err)
				}
			})
			t.Run("ConcurrentCustomers", func(t *testing.T) {
				// Two writers adding one customer's events at once: the
				// one that comes second counts the other's event.
				b := open(t)
				var wg sync.WaitGroup
				counts := make([]int, 2)
				for i := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						res, err := b.AddWindowEvents(ctx, []WindowAdd{add("trigger.a", "c1", fmt.Sprintf("x%d", i), "", 0, time.Hour)})
						if err != nil {
							t.Error(err)
							return
						}
						counts[i] = res[0].Count
					}()
				}
				wg.Wait()
				if max(counts[0], counts[1]) != 2 {
					t.Fatalf("counts %v: neither writer saw both events", counts)
				}
			})
		})
	}
}

func TestClaimDueSendsSkips(t *testing.T) {
	for name, open := range map[string]func(testing.TB) Backend{"SQLite": openSQLite, "Postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := open(t)
			t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			var rows []Send
			for i, c := range []string{"campaign.a", "campaign.b", "campaign.c"} {
				s := send(fmt.Sprintf("k%d", i), c, "c1", SendDeferred, t0)
				s.DueAt = t0
				rows = append(rows, s)
			}
			if err := b.RecordSends(ctx, rows); err != nil {
				t.Fatal(err)
			}
			got, err := b.ClaimDueSends(ctx, "r", t0, time.Minute, 10, []string{"campaign.a", "campaign.c"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Campaign != "campaign.b" {
				t.Fatalf("claimed %+v, want campaign.b's row only", got)
			}
			// Resumed: the skipped rows are free to claim at once.
			got, err = b.ClaimDueSends(ctx, "r", t0, time.Minute, 10, nil)
			if err != nil || len(got) != 2 {
				t.Fatalf("claimed %d rows, %v; want the two that were skipped", len(got), err)
			}
		})
	}
}
