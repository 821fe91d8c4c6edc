package planner

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/heraldhq/herald/lang"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestSendTime(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	tokyo := mustLoc(t, "Asia/Tokyo")
	wall := func(s string) time.Time {
		w, _, err := lang.ParseWallClock(s)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	quiet, _ := lang.ParseQuietHours("21:00-08:00")
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		now      time.Time
		sched    *lang.Schedule
		quiet    *lang.QuietHours
		loc      *time.Location
		want     string // RFC 3339 in UTC
		deferred bool
	}{
		{name: "no schedule, no quiet hours: now", now: now, loc: ny, want: "2026-11-26T12:00:00Z"},
		{name: "recipient-local 09:00 in New York", now: now, sched: &lang.Schedule{At: wall("2026-12-01T09:00"), Recipient: true}, loc: ny, want: "2026-12-01T14:00:00Z"},
		{name: "recipient-local 09:00 in Tokyo", now: now, sched: &lang.Schedule{At: wall("2026-12-01T09:00"), Recipient: true}, loc: tokyo, want: "2026-12-01T00:00:00Z"},
		{name: "one instant for everyone", now: now, sched: &lang.Schedule{At: time.Date(2026, 12, 1, 9, 0, 0, 0, ny)}, loc: tokyo, want: "2026-12-01T14:00:00Z"},
		{name: "past schedule goes now", now: now, sched: &lang.Schedule{At: wall("2026-11-01T09:00"), Recipient: true}, loc: ny, want: "2026-11-26T12:00:00Z"},
		// 12:00 UTC is 07:00 in New York: inside 21:00-08:00, deferred to 08:00.
		{name: "quiet in the morning: deferred to 08:00", now: now, quiet: quiet, loc: ny, want: "2026-11-26T13:00:00Z", deferred: true},
		// 12:00 UTC is 21:00 in Tokyo: deferred to 08:00 the next day.
		{name: "quiet at night: deferred to next morning", now: now, quiet: quiet, loc: tokyo, want: "2026-11-26T23:00:00Z", deferred: true},
		// DST in New York ends 2026-11-01 at 02:00 local; 22:00 local on
		// 31 Oct (EDT, UTC-4) is deferred to 08:00 on 1 Nov (EST, UTC-5).
		{name: "deferral across the DST change", now: time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC), quiet: quiet, loc: ny, want: "2026-11-01T13:00:00Z", deferred: true},
		{name: "recipient-local across DST: 09:00 EDT", now: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), sched: &lang.Schedule{At: wall("2026-10-31T09:00"), Recipient: true}, loc: ny, want: "2026-10-31T13:00:00Z"},
		{name: "recipient-local across DST: 09:00 EST", now: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), sched: &lang.Schedule{At: wall("2026-11-02T09:00"), Recipient: true}, loc: ny, want: "2026-11-02T14:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, deferred := SendTime(tt.now, tt.sched, tt.quiet, tt.loc)
			if got := at.UTC().Format(time.RFC3339); got != tt.want || deferred != tt.deferred {
				t.Errorf("SendTime = %s deferred=%v, want %s deferred=%v", got, deferred, tt.want, tt.deferred)
			}
		})
	}
}

// TestAssignmentStable: holdout and variant depend only on campaign and
// customer, so growing the audience moves no one, and the split follows the
// weights.
func TestAssignmentStable(t *testing.T) {
	variants := []*lang.Variant{{Name: "a", Weight: 50}, {Name: "b", Weight: 30}, {Name: "c", Weight: 20}}
	counts := map[string]int{}
	held := 0
	const n = 200000
	first := map[string]string{}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("c%07d", i)
		v := PickVariant("winback", id, variants)
		counts[v]++
		if i < 1000 {
			first[id] = v
		}
		if InHoldout("winback", id, 0.05) {
			held++
		}
	}
	for id, v := range first {
		if PickVariant("winback", id, variants) != v {
			t.Fatalf("%s moved variant", id)
		}
	}
	for _, v := range variants {
		share := float64(counts[v.Name]) / n
		if math.Abs(share-v.Weight/100) > 0.01 {
			t.Errorf("variant %s got %.3f of the audience, want %.2f", v.Name, share, v.Weight/100)
		}
	}
	if share := float64(held) / n; math.Abs(share-0.05) > 0.005 {
		t.Errorf("holdout %.4f, want 0.05", share)
	}
	// A different campaign splits independently.
	same := 0
	for id, v := range first {
		if PickVariant("other", id, variants) == v {
			same++
		}
	}
	if same > 500 {
		t.Errorf("campaigns split alike: %d of 1000 in the same variant", same)
	}
}

func TestConsentAllowed(t *testing.T) {
	ids := newIDSet()
	for _, id := range []string{"granted", "withdrawn", "regranted", "late-record-first", "sms-granted", "sms-confirmed", "objected", "unknown-status-later", "zz-channel"} {
		ids.add([]byte(id))
	}
	ids.freeze()
	// Nine channels: every one is indexed, the ninth by name too.
	chans := map[string]*lang.ConsentChannel{"email": {}, "sms": {}, "ads": {}}
	for _, n := range []string{"push", "post", "phone", "whatsapp", "in_app", "zz_last"} {
		chans[n] = &lang.ConsentChannel{}
	}
	cfg := &lang.Config{Consent: &lang.Consent{Channels: chans}}
	idx := newConsentIndex(cfg, ids)
	set := func(id, ch, status string, at int64) {
		i, ok := ids.lookup(id)
		if !ok {
			t.Fatalf("%s is not in the index", id)
		}
		idx.record(i, idx.channels[ch], statusCode(status), at)
	}
	set("granted", "email", StatusGranted, 1)
	set("withdrawn", "email", StatusGranted, 1)
	set("withdrawn", "email", StatusWithdrawn, 2)
	set("regranted", "email", StatusWithdrawn, 1)
	set("regranted", "email", StatusGranted, 2)
	set("late-record-first", "email", StatusWithdrawn, 5)
	set("late-record-first", "email", StatusGranted, 3) // older: ignored
	set("sms-granted", "sms", StatusGranted, 1)
	set("sms-confirmed", "sms", StatusGranted, 1)
	set("sms-confirmed", "sms", StatusConfirmed, 2)
	set("objected", "ads", StatusObjected, 1)
	// A later record with a status herald does not know is the latest
	// word, and it grants nothing, even when an older grant is read after
	// it.
	set("unknown-status-later", "email", "paused-by-crm", 2)
	set("unknown-status-later", "email", StatusGranted, 1)
	set("zz-channel", "zz_last", StatusGranted, 1)

	email := &lang.ConsentChannel{Name: "email", Basis: "consent", OptIn: "single"}
	sms := &lang.ConsentChannel{Name: "sms", Basis: "consent", OptIn: "double"}
	ads := &lang.ConsentChannel{Name: "ads", Basis: "legitimate_interest"}
	last := &lang.ConsentChannel{Name: "zz_last", Basis: "consent", OptIn: "single"}
	tests := []struct {
		id   string
		ch   *lang.ConsentChannel
		want bool
	}{
		{"granted", email, true},
		{"withdrawn", email, false},
		{"regranted", email, true},
		{"late-record-first", email, false},
		{"nobody", email, false},
		{"sms-granted", sms, false}, // double opt-in needs a confirmed record
		{"sms-confirmed", sms, true},
		{"nobody", ads, true}, // legitimate interest: everyone who has not objected
		{"objected", ads, false},
		{"granted", nil, false},
		{"unknown-status-later", email, false},
		{"zz-channel", last, true},
		{"granted", last, false},
	}
	for _, tt := range tests {
		if got := idx.allowed(tt.id, tt.ch); got != tt.want {
			name := "<nil>"
			if tt.ch != nil {
				name = tt.ch.Name
			}
			t.Errorf("allowed(%s, %s) = %v, want %v", tt.id, name, got, tt.want)
		}
	}
}
