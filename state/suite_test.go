package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// runSuite is the behaviour every backend shares. open returns a new,
// empty state, closed when the test ends; reopen (below) opens a second
// Backend on the same store.
func runSuite(t *testing.T, open func(t *testing.T) Backend) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	// Every subtest has a store of its own, so they run in parallel.
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t)
		})
	}

	run("Meta", func(t *testing.T) {
		b := open(t)
		m, err := b.Meta(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Lineage) != 36 || m.Serial != 0 {
			t.Fatalf("new state: Meta = %+v, want a UUID lineage and serial 0", m)
		}
		for want := int64(1); want <= 3; want++ {
			got, err := b.WriteObjects(ctx, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.Serial != want || got.Lineage != m.Lineage {
				t.Fatalf("WriteObjects #%d returned %+v, want serial %d, lineage %s", want, got, want, m.Lineage)
			}
			if again, _ := b.Meta(ctx); again != got {
				t.Fatalf("Meta = %+v after WriteObjects returned %+v", again, got)
			}
		}
	})

	run("Reopen", func(t *testing.T) {
		b := open(t)
		m, _ := b.Meta(ctx)
		if _, err := b.WriteObjects(ctx, []Object{{Address: "segment.x"}}, nil); err != nil {
			t.Fatal(err)
		}
		// Reopening runs no migration twice and keeps lineage and serial.
		b2 := reopen(t, b)
		m2, err := b2.Meta(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m2.Lineage != m.Lineage || m2.Serial != 1 {
			t.Fatalf("after reopening: Meta = %+v, want lineage %s serial 1", m2, m.Lineage)
		}
		if got := queryInt(t, b2, `SELECT COUNT(*) FROM schema_migrations`); got != latestVersion(t, b2) {
			t.Fatalf("schema_migrations has %d rows, want %d", got, latestVersion(t, b2))
		}
		if o, _ := b2.Object(ctx, "segment.x"); o == nil {
			t.Fatal("object lost on reopening")
		}
	})

	run("NewerSchemaRefused", func(t *testing.T) {
		b := open(t)
		execSQL(t, b, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', `+nowSQL(b)+`)`)
		_, err := tryReopen(b)
		var tooNew *SchemaTooNewError
		if !errors.As(err, &tooNew) || tooNew.Version != 999 || tooNew.Known != latestVersion(t, b) {
			t.Fatalf("opening a state from a newer herald: err = %v, want a *SchemaTooNewError for version 999", err)
		}
		if !strings.Contains(err.Error(), "upgrade herald") {
			t.Errorf("error %q does not say what to do", err)
		}
	})

	run("Lock", func(t *testing.T) {
		b := open(t)
		if h, err := b.LockHolder(ctx); err != nil || h != nil {
			t.Fatalf("LockHolder of a new state = %v, %v; want nil", h, err)
		}
		info := LockInfo{ID: "lock-1", Who: "alice@host", Operation: "plan", Created: t0.Add(123456789 * time.Nanosecond)}
		unlock, err := b.Lock(ctx, info)
		if err != nil {
			t.Fatal(err)
		}
		want := info
		want.Created = t0.Add(123456 * time.Microsecond)
		if h, err := b.LockHolder(ctx); err != nil || h == nil || *h != want {
			t.Fatalf("LockHolder = %+v, %v; want %+v", h, err, want)
		}

		// A second lock fails at once, naming the holder: in this Backend
		// and in another one on the same store.
		b2 := reopen(t, b)
		for name, other := range map[string]Backend{"same Backend": b, "second Backend": b2} {
			start := time.Now()
			_, err := other.Lock(ctx, NewLockInfo("apply"))
			var locked *LockedError
			if !errors.As(err, &locked) {
				t.Fatalf("%s: second Lock: err = %v, want a *LockedError", name, err)
			}
			if locked.Holder != want {
				t.Errorf("%s: LockedError.Holder = %+v, want %+v", name, locked.Holder, want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%s: second Lock took %v; it must fail at once", name, d)
			}
			msg := err.Error()
			for _, s := range []string{"alice@host", "plan", "2026-12-01T09:00:00Z", "lock-1", "herald force-unlock lock-1"} {
				if !strings.Contains(msg, s) {
					t.Errorf("%s: error %q does not mention %q", name, msg, s)
				}
			}
		}
		if h, _ := b2.LockHolder(ctx); h == nil || *h != want {
			t.Errorf("second Backend: LockHolder = %+v, want %+v", h, want)
		}

		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if err := unlock(); err != nil {
			t.Errorf("second unlock: %v", err)
		}
		if h, err := b2.LockHolder(ctx); err != nil || h != nil {
			t.Fatalf("LockHolder after unlock = %+v, %v; want nil", h, err)
		}
		// Free again, for the other Backend too; an empty LockInfo is
		// filled in.
		unlock2, err := b2.Lock(ctx, LockInfo{Operation: "apply"})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := b.LockHolder(ctx)
		if h == nil || h.ID == "" || !strings.Contains(h.Who, "@") || h.Created.IsZero() || h.Created.Location() != time.UTC {
			t.Errorf("LockHolder of a lock taken with an empty LockInfo = %+v", h)
		}
		if err := unlock2(); err != nil {
			t.Fatal(err)
		}
	})

	run("CloseReleasesLock", func(t *testing.T) {
		b := open(t)
		b2 := reopen(t, b)
		if _, err := b2.Lock(ctx, NewLockInfo("apply")); err != nil {
			t.Fatal(err)
		}
		if err := b2.Close(); err != nil {
			t.Fatal(err)
		}
		unlock, err := b.Lock(ctx, NewLockInfo("apply"))
		if err != nil {
			t.Fatalf("Lock after the holder closed: %v", err)
		}
		unlock()
	})

	run("ForceUnlock", func(t *testing.T) {
		b := open(t)
		if err := b.ForceUnlock(ctx, "nope"); !errors.Is(err, ErrNotLocked) {
			t.Fatalf("ForceUnlock of a free state: err = %v, want ErrNotLocked", err)
		}
		info := NewLockInfo("apply")
		unlock, err := b.Lock(ctx, info)
		if err != nil {
			t.Fatal(err)
		}
		b2 := reopen(t, b)
		var wrong *WrongLockError
		if err := b2.ForceUnlock(ctx, "nope"); !errors.As(err, &wrong) || wrong.Holder.ID != info.ID {
			t.Fatalf("ForceUnlock with the wrong id: err = %v, want a *WrongLockError naming %s", err, info.ID)
		}
		if h, _ := b2.LockHolder(ctx); h == nil {
			t.Fatal("ForceUnlock with the wrong id released the lock")
		}
		if err := b2.ForceUnlock(ctx, info.ID); err != nil {
			t.Fatal(err)
		}
		if h, err := b2.LockHolder(ctx); err != nil || h != nil {
			t.Fatalf("LockHolder after ForceUnlock = %+v, %v; want nil", h, err)
		}
		unlock2, err := b2.Lock(ctx, NewLockInfo("apply"))
		if err != nil {
			t.Fatalf("Lock after ForceUnlock: %v", err)
		}
		// The old holder learns that it lost the lock, and does not
		// release the new holder's.
		if err := unlock(); !errors.Is(err, ErrLockLost) {
			t.Errorf("unlock after ForceUnlock: err = %v, want ErrLockLost", err)
		}
		if h, _ := b2.LockHolder(ctx); h == nil {
			t.Fatal("the old holder's unlock released the new holder's lock")
		}
		if err := unlock2(); err != nil {
			t.Fatal(err)
		}
	})

	run("Objects", func(t *testing.T) {
		b := open(t)
		if objs, err := b.Objects(ctx); err != nil || len(objs) != 0 {
			t.Fatalf("Objects of a new state = %v, %v", objs, err)
		}
		local := time.FixedZone("PST", -8*3600)
		in := []Object{
			{Address: "segment.lapsed", Kind: "segment", Attrs: map[string]string{"where": "customer.ltv >= 500.0", "from": "source.customers"}, UpdatedAt: t0},
			{Address: "campaign.winback_dec", Kind: "campaign", Attrs: map[string]string{"channel": "email", "holdout": "0.05"}, Status: "sending", UpdatedAt: t0.In(local).Add(999)},
			{Address: "audience.seed", Attrs: nil, ProviderID: "customers/123/userLists/456", UpdatedAt: t0},
		}
		m, err := b.WriteObjects(ctx, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.Serial != 1 {
			t.Errorf("serial = %d, want 1", m.Serial)
		}
		want := []Object{
			{Address: "audience.seed", Kind: "audience", Attrs: map[string]string{}, ProviderID: "customers/123/userLists/456", UpdatedAt: t0},
			{Address: "campaign.winback_dec", Kind: "campaign", Attrs: map[string]string{"channel": "email", "holdout": "0.05"}, Status: "sending", UpdatedAt: t0},
			{Address: "segment.lapsed", Kind: "segment", Attrs: map[string]string{"where": "customer.ltv >= 500.0", "from": "source.customers"}, UpdatedAt: t0},
		}
		checkObjects(t, b, want)
		if o, err := b.Object(ctx, "campaign.winback_dec"); err != nil || o == nil || !reflect.DeepEqual(*o, want[1]) {
			t.Errorf("Object = %+v, %v; want %+v", o, err, want[1])
		}
		if o, err := b.Object(ctx, "campaign.nope"); err != nil || o != nil {
			t.Errorf("Object of a missing address = %+v, %v; want nil, nil", o, err)
		}

		// Update one, remove one (and one that is not there), add one; the
		// last of two upserts of one address wins.
		upd := want[1]
		upd.Attrs = map[string]string{"channel": "sms"}
		upd.Status = "sent"
		upd.UpdatedAt = t0.Add(time.Hour)
		m, err = b.WriteObjects(ctx, []Object{{Address: "campaign.winback_dec", Status: "paused"}, upd, {Address: "trigger.cart", UpdatedAt: t0}},
			[]string{"segment.lapsed", "segment.never"})
		if err != nil {
			t.Fatal(err)
		}
		if m.Serial != 2 {
			t.Errorf("serial = %d, want 2", m.Serial)
		}
		checkObjects(t, b, []Object{want[0], upd, {Address: "trigger.cart", Kind: "trigger", Attrs: map[string]string{}, UpdatedAt: t0}})

		// Nothing is written when one object is invalid.
		if _, err := b.WriteObjects(ctx, []Object{{Address: "segment.y"}, {}}, nil); err == nil {
			t.Error("WriteObjects with an object without address: no error")
		}
		if m, _ := b.Meta(ctx); m.Serial != 2 {
			t.Errorf("serial = %d after a failed write, want 2", m.Serial)
		}
	})

	run("RecordSendsIdempotent", func(t *testing.T) {
		b := open(t)
		first := []Send{
			send("k1", "campaign.a", "c1", SendPlanned, t0),
			send("k2", "campaign.a", "c2", SendPlanned, t0),
		}
		if err := b.RecordSends(ctx, first); err != nil {
			t.Fatal(err)
		}
		again := send("k1", "campaign.a", "c9", SendSent, t0.Add(time.Hour))
		dup1 := send("k3", "campaign.a", "c3", SendPlanned, t0)
		dup2 := send("k3", "campaign.a", "c4", SendSent, t0)
		if err := b.RecordSends(ctx, []Send{again, dup1, dup2}); err != nil {
			t.Fatal(err)
		}
		checkSends(t, b, "campaign.a", []Send{first[0], first[1], dup1})
		// Again, all of them there already.
		if err := b.RecordSends(ctx, []Send{again, dup2, first[1]}); err != nil {
			t.Fatal(err)
		}
		checkSends(t, b, "campaign.a", []Send{first[0], first[1], dup1})
		if err := b.RecordSends(ctx, nil); err != nil {
			t.Errorf("RecordSends(nil): %v", err)
		}
	})

	run("RecordSendsDefaults", func(t *testing.T) {
		b := open(t)
		due := t0.In(time.FixedZone("CET", 3600)).Add(1500 * time.Nanosecond)
		before := time.Now().UTC().Truncate(time.Microsecond)
		s := Send{Key: "k", Campaign: "trigger.cart", CustomerID: "c1", Channel: "sms", Status: SendDeferred, DueAt: due,
			Error: "550 5.1.1 <ann.lee@example.com>: user unknown; +1 541 555 0100 unreachable"}
		if err := b.RecordSends(ctx, []Send{s}); err != nil {
			t.Fatal(err)
		}
		got := collectSends(t, b, "trigger.cart")
		if len(got) != 1 {
			t.Fatalf("got %d sends", len(got))
		}
		g := got[0]
		if !g.DueAt.Equal(t0.Add(time.Microsecond)) || g.DueAt.Location() != time.UTC {
			t.Errorf("DueAt = %v, want %v in UTC", g.DueAt, t0.Add(time.Microsecond))
		}
		if g.CreatedAt.Before(before) || g.CreatedAt.Location() != time.UTC || !g.UpdatedAt.Equal(g.CreatedAt) {
			t.Errorf("CreatedAt, UpdatedAt = %v, %v; want now, in UTC", g.CreatedAt, g.UpdatedAt)
		}
		if strings.Contains(g.Error, "@") || strings.Contains(g.Error, "555") || !strings.Contains(g.Error, "user unknown") {
			t.Errorf("Error = %q: the address and the number must be scrubbed, the rest kept", g.Error)
		}
		// A zero DueAt stays zero.
		if err := b.RecordSends(ctx, []Send{send("k2", "trigger.cart", "c1", SendPlanned, t0)}); err != nil {
			t.Fatal(err)
		}
		if got := collectSends(t, b, "trigger.cart"); !got[1].DueAt.IsZero() {
			t.Errorf("DueAt = %v, want zero", got[1].DueAt)
		}
		for _, bad := range []Send{
			{Campaign: "c", CustomerID: "x", Channel: "email", Status: SendPlanned},
			{Key: "k9", Campaign: "c", CustomerID: "x", Channel: "email", Status: "done"},
			{Key: "k9", Campaign: "c", Channel: "email", Status: SendPlanned},
		} {
			if err := b.RecordSends(ctx, []Send{bad}); err == nil {
				t.Errorf("RecordSends(%+v): no error", bad)
			}
		}
	})

	run("RecordSendsManyBatches", func(t *testing.T) {
		b := open(t)
		const n = 2*sqliteTxRows + 345
		var all []Send
		for i := range n {
			all = append(all, send(fmt.Sprintf("k%06d", i), "campaign.big", fmt.Sprintf("c%d", i%700), SendPlanned, t0))
		}
		// Record the middle third first: the rest of the keys are new,
		// those are there.
		if err := b.RecordSends(ctx, all[n/3:2*n/3]); err != nil {
			t.Fatal(err)
		}
		if err := b.RecordSends(ctx, all); err != nil {
			t.Fatal(err)
		}
		checkSends(t, b, "campaign.big", all)
	})

	run("RecordSendsConcurrent", func(t *testing.T) {
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
				// Overlapping ranges of keys.
				var batch []Send
				for i := w * 100; i < w*100+300; i++ {
					batch = append(batch, send(fmt.Sprintf("k%04d", i), "campaign.c", "c", SendPlanned, t0))
				}
				errs <- be.RecordSends(ctx, batch)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := len(collectSends(t, b, "campaign.c")); got != 1000 {
			t.Errorf("%d sends recorded, want 1000", got)
		}
	})

	run("UpdateSends", func(t *testing.T) {
		b := open(t)
		if err := b.RecordSends(ctx, []Send{
			send("k1", "campaign.a", "c1", SendPlanned, t0),
			send("k2", "campaign.a", "c2", SendPlanned, t0),
			send("k3", "campaign.a", "c3", SendPlanned, t0),
		}); err != nil {
			t.Fatal(err)
		}
		t1 := t0.Add(time.Minute)
		if err := b.UpdateSends(ctx, []Send{
			{Key: "k1", Status: SendPending, UpdatedAt: t1},
			{Key: "k1", Status: SendSent, ProviderMessageID: "msg-1", UpdatedAt: t1},
			{Key: "k3", Status: SendFailed, Error: "bounced: bob@example.org", UpdatedAt: t1},
		}); err != nil {
			t.Fatal(err)
		}
		got := collectSends(t, b, "campaign.a")
		want := send("k1", "campaign.a", "c1", SendSent, t0)
		want.ProviderMessageID, want.UpdatedAt = "msg-1", t1
		if got[0] != want {
			t.Errorf("k1 = %+v, want %+v", got[0], want)
		}
		if got[1].Status != SendPlanned || !got[1].UpdatedAt.Equal(t0) {
			t.Errorf("k2 changed: %+v", got[1])
		}
		if got[2].Status != SendFailed || got[2].Error != "bounced: [email]" || !got[2].UpdatedAt.Equal(t1) {
			t.Errorf("k3 = %+v", got[2])
		}

		// A key that is not in the ledger fails the whole batch.
		err := b.UpdateSends(ctx, []Send{{Key: "k2", Status: SendSent}, {Key: "nope", Status: SendSent}})
		if err == nil || !strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("UpdateSends with an unknown key: err = %v, want one naming it", err)
		}
		if got := collectSends(t, b, "campaign.a"); got[1].Status != SendPlanned {
			t.Errorf("a failed UpdateSends changed k2: %+v", got[1])
		}
		if err := b.UpdateSends(ctx, []Send{{Key: "k2", Status: "bogus"}}); err == nil {
			t.Error("UpdateSends with an unknown status: no error")
		}
	})

	run("SendsOrder", func(t *testing.T) {
		b := open(t)
		const n = 2*pageRows + 17
		var a, other []Send
		for i := range n {
			a = append(a, send(fmt.Sprintf("2026-12-01/%06d", i), "campaign.a", fmt.Sprintf("c%d", i), SendPlanned, t0))
			if i%3 == 0 {
				other = append(other, send(fmt.Sprintf("2026-12-01/%06d-b", i), "campaign.b", "c", SendPlanned, t0))
			}
		}
		in := slices.Concat(a, other)
		rand.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		if err := b.RecordSends(ctx, in); err != nil {
			t.Fatal(err)
		}
		checkSends(t, b, "campaign.a", a)
		checkSends(t, b, "campaign.b", other)
		checkSends(t, b, "campaign.none", nil)

		// fn's error stops the walk and is returned.
		stop := errors.New("stop")
		seen := 0
		err := b.Sends(ctx, "campaign.a", func(Send) error {
			seen++
			if seen == 5 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || seen != 5 {
			t.Errorf("Sends with fn failing at 5: err = %v after %d rows", err, seen)
		}

		// fn may write to the ledger it is reading.
		err = b.Sends(ctx, "campaign.b", func(s Send) error {
			return b.UpdateSends(ctx, []Send{{Key: s.Key, Status: SendSent}})
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range collectSends(t, b, "campaign.b") {
			if s.Status != SendSent {
				t.Fatalf("%s not updated from inside Sends", s.Key)
			}
		}
	})

	run("SendCounts", func(t *testing.T) {
		b := open(t)
		at := func(key, customer, channel, status string, d time.Duration) Send {
			s := send(key, "campaign.a", customer, status, t0.Add(d))
			s.Channel = channel
			return s
		}
		if err := b.RecordSends(ctx, []Send{
			at("1", "ann", "email", SendSent, 0),
			at("2", "ann", "email", SendPending, time.Hour),
			at("3", "ann", "email", SendSent, -time.Microsecond), // before the window
			at("4", "ann", "email", SendFailed, time.Hour),
			at("5", "ann", "email", SendPlanned, time.Hour),
			at("6", "ann", "email", SendSkipped, time.Hour),
			at("7", "ann", "sms", SendSent, time.Hour),
			at("8", "bob", "email", SendSent, 2*time.Hour),
			at("9", "cy", "email", SendDeferred, time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			channel string
			since   time.Time
			want    map[string]int
		}{
			{"email", t0, map[string]int{"ann": 2, "bob": 1}},
			{"email", t0.Add(-time.Hour), map[string]int{"ann": 3, "bob": 1}},
			{"email", t0.Add(90 * time.Minute), map[string]int{"bob": 1}},
			{"sms", t0, map[string]int{"ann": 1}},
			{"", t0, map[string]int{"ann": 3, "bob": 1}},
			{"push", t0, map[string]int{}},
		} {
			got, err := b.SendCounts(ctx, tc.channel, tc.since)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("SendCounts(%q, %v) = %v, want %v", tc.channel, tc.since, got, tc.want)
			}
		}
		// Updates move rows in and out of the count.
		if err := b.UpdateSends(ctx, []Send{{Key: "1", Status: SendFailed}, {Key: "5", Status: SendPending}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := b.SendCounts(ctx, "email", t0); !reflect.DeepEqual(got, map[string]int{"ann": 2, "bob": 1}) {
			t.Errorf("after updates: SendCounts = %v", got)
		}
	})

	run("Suppressions", func(t *testing.T) {
		b := open(t)
		if s, err := b.Suppressions(ctx); err != nil || len(s) != 0 {
			t.Fatalf("Suppressions of a new state = %v, %v", s, err)
		}
		in := []Suppression{
			{CustomerID: "c2", Channel: "email", Reason: "bounce", CreatedAt: t0},
			{CustomerID: "c1", Channel: "", Reason: "erasure", CreatedAt: t0},
			{CustomerID: "c2", Channel: "sms", Reason: "stop", CreatedAt: t0},
			{CustomerID: "c2", Channel: "email", Reason: "complaint", CreatedAt: t0.Add(time.Hour)}, // not kept
		}
		if err := b.AddSuppressions(ctx, in); err != nil {
			t.Fatal(err)
		}
		if err := b.AddSuppressions(ctx, []Suppression{{CustomerID: "c1", Channel: "", Reason: "unsubscribe"}, {CustomerID: "c0", Channel: "email", Reason: "unsubscribe", CreatedAt: t0}}); err != nil {
			t.Fatal(err)
		}
		got, err := b.Suppressions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []Suppression{
			{CustomerID: "c0", Channel: "email", Reason: "unsubscribe", CreatedAt: t0},
			in[1], in[0], in[2],
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Suppressions =\n%+v\nwant\n%+v", got, want)
		}
		if err := b.AddSuppressions(ctx, []Suppression{{Channel: "email", Reason: "bounce"}}); err == nil {
			t.Error("a suppression without customer: no error")
		}
	})

	run("AudienceMembers", func(t *testing.T) {
		b := open(t)
		members := func(audience string) []string {
			t.Helper()
			var ids []string
			if err := b.AudienceMembers(ctx, audience, func(id string) error { ids = append(ids, id); return nil }); err != nil {
				t.Fatal(err)
			}
			return ids
		}
		if got := members("audience.seed"); len(got) != 0 {
			t.Fatalf("members of a new audience: %v", got)
		}
		if err := b.SetAudienceMembers(ctx, "audience.seed", []string{"c3", "c1", "c2", "c1"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := b.SetAudienceMembers(ctx, "audience.other", []string{"c2", "c9"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := b.SetAudienceMembers(ctx, "audience.seed", []string{"c1", "c4"}, []string{"c2", "c8"}); err != nil {
			t.Fatal(err)
		}
		if got, want := members("audience.seed"), []string{"c1", "c3", "c4"}; !slices.Equal(got, want) {
			t.Errorf("audience.seed = %v, want %v", got, want)
		}
		if got, want := members("audience.other"), []string{"c2", "c9"}; !slices.Equal(got, want) {
			t.Errorf("audience.other = %v, want %v", got, want)
		}
		// An id both added and removed ends up a member.
		if err := b.SetAudienceMembers(ctx, "audience.other", []string{"c9"}, []string{"c9", "c2"}); err != nil {
			t.Fatal(err)
		}
		if got, want := members("audience.other"), []string{"c9"}; !slices.Equal(got, want) {
			t.Errorf("audience.other = %v, want %v", got, want)
		}

		// More than a page, and fn's error stops the walk.
		var many []string
		for i := range 2*pageRows + 3 {
			many = append(many, fmt.Sprintf("m%05d", i))
		}
		if err := b.SetAudienceMembers(ctx, "audience.big", many, nil); err != nil {
			t.Fatal(err)
		}
		if got := members("audience.big"); !slices.Equal(got, many) {
			t.Errorf("audience.big: got %d members, want %d in order", len(got), len(many))
		}
		stop := errors.New("stop")
		if err := b.AudienceMembers(ctx, "audience.big", func(string) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("AudienceMembers with a failing fn: err = %v", err)
		}
		if err := b.SetAudienceMembers(ctx, "audience.big", nil, many[1:]); err != nil {
			t.Fatal(err)
		}
		if got := members("audience.big"); !slices.Equal(got, many[:1]) {
			t.Errorf("audience.big after removing all but one: %v", got)
		}
	})

	run("Cancelled", func(t *testing.T) {
		b := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := b.Objects(cctx); err == nil {
			t.Error("Objects with a cancelled context: no error")
		}
		if err := b.RecordSends(cctx, []Send{send("k", "campaign.a", "c", SendPlanned, t0)}); err == nil {
			t.Error("RecordSends with a cancelled context: no error")
		}
	})
}

// send is a ledger row with every time set to at.
func send(key, campaign, customer, status string, at time.Time) Send {
	return Send{Key: key, Campaign: campaign, Variant: "a", CustomerID: customer, Channel: "email", Provider: "smtp.main",
		Status: status, CreatedAt: at, UpdatedAt: at}
}

func collectSends(t *testing.T, b Backend, campaign string) []Send {
	t.Helper()
	var got []Send
	if err := b.Sends(context.Background(), campaign, func(s Send) error { got = append(got, s); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func checkSends(t *testing.T, b Backend, campaign string, want []Send) {
	t.Helper()
	got := collectSends(t, b, campaign)
	if len(got) != len(want) {
		t.Fatalf("Sends(%s): %d rows, want %d", campaign, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("Sends(%s)[%d] =\n%+v\nwant\n%+v", campaign, i, got[i], want[i])
		}
	}
}

func checkObjects(t *testing.T, b Backend, want []Object) {
	t.Helper()
	got, err := b.Objects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Objects =\n%+v\nwant\n%+v", got, want)
	}
}

// reopen opens a second Backend on b's store, closed when t ends.
func reopen(t *testing.T, b Backend) Backend {
	t.Helper()
	b2, err := tryReopen(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	return b2
}

func tryReopen(b Backend) (Backend, error) {
	ctx := context.Background()
	switch b := b.(type) {
	case *SQLite:
		return OpenSQLite(ctx, b.Path())
	case *Postgres:
		return OpenPostgres(ctx, b.url)
	}
	panic(fmt.Sprintf("reopen: unknown backend %T", b))
}

// execSQL runs statement on b's store directly.
func execSQL(t *testing.T, b Backend, statement string) {
	t.Helper()
	var err error
	switch b := b.(type) {
	case *SQLite:
		_, err = b.db.Exec(statement)
	case *Postgres:
		_, err = b.pool.Exec(context.Background(), statement)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func queryInt(t *testing.T, b Backend, query string) int {
	t.Helper()
	var n int
	var err error
	switch b := b.(type) {
	case *SQLite:
		err = b.db.QueryRow(query).Scan(&n)
	case *Postgres:
		err = b.pool.QueryRow(context.Background(), query).Scan(&n)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func nowSQL(b Backend) string {
	if _, ok := b.(*SQLite); ok {
		return "0"
	}
	return "now()"
}

func latestVersion(t *testing.T, b Backend) int {
	t.Helper()
	name := "sqlite"
	if _, ok := b.(*Postgres); ok {
		name = "postgres"
	}
	ms, err := migrations(name)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}
