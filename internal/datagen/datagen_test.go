package datagen

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // validate time zone names without the system database
)

func gen(t testing.TB, write func(io.Writer, Options) error, o Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b, o); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readCSV(t *testing.T, data []byte, header string) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != header {
		t.Fatalf("header = %q, want %q", rows[0], header)
	}
	return rows[1:]
}

func TestDeterministic(t *testing.T) {
	for name, write := range map[string]func(io.Writer, Options) error{
		"customers": WriteCustomers, "consents": WriteConsents, "events": WriteEvents,
	} {
		t.Run(name, func(t *testing.T) {
			o := Options{Customers: 500, Seed: 42}
			a, b := gen(t, write, o), gen(t, write, o)
			if !bytes.Equal(a, b) {
				t.Fatal("same seed, different output")
			}
			o.Seed = 43
			if c := gen(t, write, o); bytes.Equal(a, c) {
				t.Fatal("different seed, same output")
			}
		})
	}
}

// A customer does not depend on how many there are: the first 100 of 1000
// are the 100 of 100.
func TestPrefixStable(t *testing.T) {
	small := gen(t, WriteCustomers, Options{Customers: 100, Seed: 7})
	big := gen(t, WriteCustomers, Options{Customers: 1000, Seed: 7})
	if !bytes.HasPrefix(big, small) {
		t.Fatal("the first customers change with the number of customers")
	}
}

var (
	idRE    = regexp.MustCompile(`^c[0-9]{6,}$`)
	emailRE = regexp.MustCompile(`^[A-Za-z][a-z.]*[0-9]+@(example\.com|example\.org|example\.net|Example\.com|Example\.org|Example\.net)$`)
	phoneRE = regexp.MustCompile(`^\+[1-9][0-9]{9,13}$`)
	ltvRE   = regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)
)

var zoneCountry = func() map[string]string {
	m := map[string]string{}
	for _, c := range countries {
		for _, z := range c.zones {
			m[z.tz] = c.code
		}
	}
	return m
}()

func TestCustomers(t *testing.T) {
	const n = 20000
	now := DefaultNow
	data := gen(t, WriteCustomers, Options{Customers: n, Seed: 1})
	rows := readCSV(t, data, CustomersHeader)
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	emails := map[string]bool{}
	var rich, support, noName, noPhone, recent, mixed int
	prev := ""
	for i, row := range rows {
		id, email, phone, first, country, tz, ltv, last, sup, age := row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9]
		if !idRE.MatchString(id) || id <= prev {
			t.Fatalf("row %d: id %q not after %q", i, id, prev)
		}
		prev = id
		if !emailRE.MatchString(email) || emails[strings.ToLower(email)] {
			t.Fatalf("row %d: bad or duplicate email %q", i, email)
		}
		emails[strings.ToLower(email)] = true
		if email != strings.ToLower(email) {
			mixed++
		}
		switch {
		case phone == "":
			noPhone++
		case !phoneRE.MatchString(phone):
			t.Fatalf("row %d: phone %q is not E.164", i, phone)
		}
		if first == "" {
			noName++
		}
		if zoneCountry[tz] != country {
			t.Fatalf("row %d: time zone %q is not in country %q", i, tz, country)
		}
		if _, err := time.LoadLocation(tz); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if !ltvRE.MatchString(ltv) {
			t.Fatalf("row %d: ltv %q", i, ltv)
		}
		if v, _ := strconv.ParseFloat(ltv, 64); v >= 500 {
			rich++
		}
		lp, err := time.Parse(time.RFC3339, last)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if !lp.Before(now) || lp.Before(now.AddDate(-2, 0, 0)) {
			t.Fatalf("row %d: last_purchase_at %v not in the two years before %v", i, lp, now)
		}
		if now.Sub(lp) < 7*24*time.Hour {
			recent++
		}
		switch sup {
		case "true":
			support++
		case "false":
		default:
			t.Fatalf("row %d: support_case_open %q", i, sup)
		}
		switch age {
		case "", "18-24", "25-34", "35-44", "45-54", "55-64", "65+":
		default:
			t.Fatalf("row %d: age_range %q", i, age)
		}
	}
	share := func(k int) float64 { return float64(k) / n }
	for _, c := range []struct {
		what     string
		got      float64
		min, max float64
	}{
		{"ltv >= 500", share(rich), 0.18, 0.22},
		{"support case open", share(support), 0.04, 0.06},
		{"no first name", share(noName), 0.01, 0.03},
		{"no phone", share(noPhone), 0.10, 0.14},
		{"bought in the last week", share(recent), 0.015, 0.04},
		{"mixed-case email", share(mixed), 0.005, 0.015},
	} {
		if c.got < c.min || c.got > c.max {
			t.Errorf("%s: %.3f, want %.3f … %.3f", c.what, c.got, c.min, c.max)
		}
	}
}

// A million customers should make about 110 MB: check the row size at the
// width that ids and e-mail numbers have there.
func TestCustomerRowSize(t *testing.T) {
	cs := newCustomers(Options{Seed: 1})
	var b []byte
	const n, first = 20000, 980000
	total := 0
	for k := first; k < first+n; k++ {
		b = cs.get(k).appendRow(b[:0], idWidth(1_000_000))
		total += len(b)
	}
	if avg := float64(total) / n; avg < 100 || avg > 120 {
		t.Errorf("average row of a million customers is %.1f bytes, want about 110", avg)
	}
}

func TestConsents(t *testing.T) {
	const n = 5000
	o := Options{Customers: n, Seed: 3}
	now := o.now()
	phones := map[string]bool{}
	for _, row := range readCSV(t, gen(t, WriteCustomers, o), CustomersHeader) {
		phones[row[0]] = row[2] != ""
	}
	rows := readCSV(t, gen(t, WriteConsents, o), ConsentsHeader)
	if len(rows) < n {
		t.Fatalf("only %d consent records for %d customers", len(rows), n)
	}
	count := map[string]int{}
	latest := map[string]string{}
	var prevKey string
	var prevAt time.Time
	for i, row := range rows {
		id, ch, status, method, at, policy := row[0], row[1], row[2], row[3], row[4], row[5]
		hasPhone, ok := phones[id]
		if !ok {
			t.Fatalf("row %d: unknown customer %q", i, id)
		}
		ts, err := time.Parse(time.RFC3339, at)
		if err != nil || !ts.Before(now) {
			t.Fatalf("row %d: recorded_at %q (%v)", i, at, err)
		}
		if id == prevKey && ts.Before(prevAt) || id < prevKey {
			t.Fatalf("row %d: out of order", i)
		}
		prevKey, prevAt = id, ts
		if method == "" || policy == "" {
			t.Fatalf("row %d: empty method or policy_version", i)
		}
		switch ch + "/" + status {
		case "email/granted", "email/withdrawn", "sms/granted", "sms/confirmed", "sms/revoked",
			"ads/granted", "ads/objected":
		default:
			t.Fatalf("row %d: %s %s", i, ch, status)
		}
		if ch == "sms" && !hasPhone {
			t.Fatalf("row %d: sms consent of %s, who has no phone", i, id)
		}
		key := id + "/" + ch
		if status == StatusConfirmed && latest[key] != StatusGranted {
			t.Fatalf("row %d: sms confirmed without a pending grant (%q)", i, latest[key])
		}
		latest[key] = status
		count[ch+"/"+status]++
	}
	final := map[string]int{}
	for key, status := range latest {
		final[key[strings.IndexByte(key, '/')+1:]+"/"+status]++
	}
	// Every kind of history occurs, and the latest record decides.
	for _, k := range []string{"email/withdrawn", "sms/revoked", "ads/objected", "ads/granted"} {
		if count[k] == 0 {
			t.Errorf("no %s record", k)
		}
	}
	for _, k := range []string{"email/granted", "email/withdrawn", "sms/granted", "sms/confirmed", "sms/revoked", "ads/objected"} {
		if final[k] == 0 {
			t.Errorf("no customer whose latest record is %s", k)
		}
	}
	if f := float64(final["email/granted"]) / n; f < 0.6 || f > 0.8 {
		t.Errorf("%.2f have email consent", f)
	}
	if f := float64(final["sms/confirmed"]) / n; f < 0.2 || f > 0.35 {
		t.Errorf("%.2f have confirmed sms consent", f)
	}
}

type jsonEvent struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	Type       string `json:"type"`
	Path       string `json:"path"`
	At         string `json:"at"`
}

func readEvents(t *testing.T, data []byte) []jsonEvent {
	t.Helper()
	var evs []jsonEvent
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var e jsonEvent
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %d: %v: %s", line, err, sc.Bytes())
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestEvents(t *testing.T) {
	const n = 4000
	o := Options{Customers: n, Seed: 5, EventsPerCustomer: 6}
	now := o.now()
	evs := readEvents(t, gen(t, WriteEvents, o))
	if want := n * 6.0; float64(len(evs)) < 0.9*want || float64(len(evs)) > 1.1*want {
		t.Fatalf("%d events, want about %.0f", len(evs), want)
	}
	var prev time.Time
	ids := map[string]bool{}
	types := map[string]int{}
	carts := map[string][]time.Time{}
	purchases := map[string][]time.Time{}
	for i, e := range evs {
		at, err := time.Parse(time.RFC3339, e.At)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if at.Before(prev) || !at.Before(now) || at.Before(now.Add(-EventWindow*time.Second)) {
			t.Fatalf("event %d at %v: out of order or outside the window", i, at)
		}
		prev = at
		if ids[e.ID] || !strings.HasPrefix(e.ID, "e") || i > 0 && e.ID <= evs[i-1].ID {
			t.Fatalf("event %d: id %q", i, e.ID)
		}
		ids[e.ID] = true
		if num, err := strconv.Atoi(e.CustomerID[1:]); err != nil || num < 1 || num > n || !idRE.MatchString(e.CustomerID) {
			t.Fatalf("event %d: customer %q", i, e.CustomerID)
		}
		types[e.Type]++
		switch e.Type {
		case EventPageView:
			if !strings.HasPrefix(e.Path, "/") {
				t.Fatalf("event %d: page view of %q", i, e.Path)
			}
			if strings.HasPrefix(e.Path, "/cart") {
				carts[e.CustomerID] = append(carts[e.CustomerID], at)
			}
		case EventPurchase:
			purchases[e.CustomerID] = append(purchases[e.CustomerID], at)
		case EventEmailOpen, EventSupportCase:
		default:
			t.Fatalf("event %d: type %q", i, e.Type)
		}
	}
	for _, typ := range []string{EventPageView, EventPurchase, EventSupportCase, EventEmailOpen} {
		if types[typ] == 0 {
			t.Errorf("no %s events", typ)
		}
	}
	// The quickstart's trigger: three cart pages within 24h without a purchase.
	abandoned := 0
	for c, ts := range carts {
		for i := 2; i < len(ts); i++ {
			if ts[i].Sub(ts[i-2]) <= 24*time.Hour && len(purchases[c]) == 0 {
				abandoned++
				break
			}
		}
	}
	if abandoned < n/50 {
		t.Errorf("only %d abandoned carts", abandoned)
	}
}

func TestNoEvents(t *testing.T) {
	for _, o := range []Options{{Customers: 0}, {Customers: 10, EventsPerCustomer: -1}} {
		if b := gen(t, WriteEvents, o); len(b) != 0 {
			t.Errorf("%+v: %d bytes of events", o, len(b))
		}
	}
}

func TestNow(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	o := Options{Customers: 200, Seed: 9, Now: now}
	for _, row := range readCSV(t, gen(t, WriteCustomers, o), CustomersHeader) {
		if lp, _ := time.Parse(time.RFC3339, row[7]); !lp.Before(now) {
			t.Fatalf("last purchase %v after now %v", lp, now)
		}
	}
	for _, row := range readCSV(t, gen(t, WriteConsents, o), ConsentsHeader) {
		if at, _ := time.Parse(time.RFC3339, row[4]); !at.Before(now) {
			t.Fatalf("consent at %v after now %v", at, now)
		}
	}
	for _, e := range readEvents(t, gen(t, WriteEvents, o)) {
		if at, _ := time.Parse(time.RFC3339, e.At); !at.Before(now) {
			t.Fatalf("event at %v after now %v", at, now)
		}
	}
}

func TestGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	o := Options{Customers: 50, Seed: 11}
	if err := Generate(dir, o); err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func(io.Writer, Options) error{
		CustomersFile: WriteCustomers, ConsentsFile: WriteConsents, EventsFile: WriteEvents,
	} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, gen(t, write, o)) {
			t.Errorf("%s differs from what its writer makes", name)
		}
	}
	if err := Generate(dir, Options{Customers: -1}); err == nil {
		t.Error("negative customers: no error")
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after -= len(p); w.after < 0 {
		return 0, fmt.Errorf("disk full")
	}
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	for _, write := range []func(io.Writer, Options) error{WriteCustomers, WriteConsents, WriteEvents} {
		if err := write(&failWriter{after: 1 << 20}, Options{Customers: 50000, Seed: 1}); err == nil {
			t.Error("no error from a failing writer")
		}
	}
}

func BenchmarkWriteCustomers(b *testing.B) {
	const n = 100_000
	var cw countWriter
	for b.Loop() {
		cw = 0
		if err := WriteCustomers(&cw, Options{Customers: n, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(cw))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
}

func BenchmarkWriteEvents(b *testing.B) {
	const n = 20_000
	var cw countWriter
	for b.Loop() {
		cw = 0
		if err := WriteEvents(&cw, Options{Customers: n, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(cw))
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
