package inbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/lang"
)

// pgSources are postgres event sources: "pg_events" with its bigserial id
// as key and cursor, "pg_clicks" with a cursor outside its schema and no
// id, and "pg_timed" with a timestamp cursor.
const pgSources = `
provider "postgres" "wh" {
  url = env("HERALD_TEST_INBOUND_PG_URL") # set by the tests
}

source "pg_events" {
  from   = provider.postgres.wh
  table  = "events"
  schema = schema.event
  key    = "id"
  cursor = "id"
}

source "pg_clicks" {
  from           = provider.postgres.wh
  table          = "clicks"
  schema         = schema.click
  cursor         = "seq"
  customer_field = "user"
  time_field     = "when"
  type_field     = "kind"
}

source "pg_timed" {
  from   = provider.postgres.wh
  query  = "SELECT * FROM events WHERE type <> 'test'"
  schema = schema.event
  cursor = "at"
}
`

const pgTables = `
CREATE TABLE events (
  id          bigserial PRIMARY KEY,
  customer_id text,
  type        text,
  path        text,
  at          text,
  amount      double precision,
  qty         integer,
  tags        text[]
);
CREATE TABLE clicks (
  seq    bigserial PRIMARY KEY,
  "user" text,
  kind   text,
  "when" timestamptz,
  n      integer
);
`

type pgFixture struct {
	t       *testing.T
	conn    *pgx.Conn
	srcs    map[string]*lang.Source
	offsets *memOffsets
	sink    sinkRecorder
	rej     rejects
}

func newPGFixture(t *testing.T) *pgFixture {
	t.Helper()
	url := pgtest.Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, pgTables); err != nil {
		t.Fatal(err)
	}
	srcs := loadSources(t, pgSources)
	srcs["pg_events"].From.Attributes["url"] = cty.StringVal(url)
	return &pgFixture{t: t, conn: conn, srcs: srcs, offsets: &memOffsets{}}
}

func (fx *pgFixture) exec(sql string, args ...any) {
	fx.t.Helper()
	if _, err := fx.conn.Exec(context.Background(), sql, args...); err != nil {
		fx.t.Fatalf("%s: %v", sql, err)
	}
}

// insert adds events: customer, type, at.
func (fx *pgFixture) insert(rows ...[3]string) {
	fx.t.Helper()
	for _, r := range rows {
		fx.exec(`INSERT INTO events (customer_id, type, path, at, amount, qty, tags) VALUES ($1, $2, '/cart', $3, 9.5, 2, '{a,b}')`, r[0], r[1], r[2])
	}
}

func (fx *pgFixture) poller(source string, mod func(o *CursorPollerOptions)) *CursorPoller {
	fx.t.Helper()
	opts := CursorPollerOptions{Source: fx.srcs[source], Sink: fx.sink.sink, Offsets: fx.offsets, OnReject: fx.rej.on, Logger: quiet()}
	if mod != nil {
		mod(&opts)
	}
	p, err := NewCursorPoller(context.Background(), opts)
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.t.Cleanup(func() { p.Close() })
	return p
}

func (fx *pgFixture) poll(p *CursorPoller, want int) {
	fx.t.Helper()
	n, err := p.Poll(context.Background())
	if err != nil {
		fx.t.Fatalf("poll: %v", err)
	}
	if n != want {
		fx.t.Fatalf("poll accepted %d events, want %d", n, want)
	}
}

func (fx *pgFixture) ids() []string {
	var ids []string
	for _, ev := range fx.sink.events() {
		ids = append(ids, ev.ID)
	}
	return ids
}

func (fx *pgFixture) cursor(key string) string {
	fx.t.Helper()
	b, ok, _ := fx.offsets.Value(context.Background(), key)
	if !ok {
		fx.t.Fatalf("no cursor under %s", key)
	}
	var st pollState
	if err := json.Unmarshal(b, &st); err != nil || st.Cursor == nil {
		return "<none>"
	}
	return *st.Cursor
}

func TestPollerStartsAtMaxCursor(t *testing.T) {
	fx := newPGFixture(t)
	fx.insert([3]string{"c1", "page_view", "2026-11-26T10:00:00Z"}, [3]string{"c1", "page_view", "2026-11-26T10:01:00Z"})
	p := fx.poller("pg_events", nil)
	fx.poll(p, 0)
	if got := fx.cursor("offset/source.pg_events/events"); got != "2" {
		t.Fatalf("first cursor %q, want 2", got)
	}
	fx.insert([3]string{"c2", "purchase", "2026-11-26T10:02:00Z"}, [3]string{"c3", "page_view", "2026-11-26T10:03:00Z"})
	fx.poll(p, 2)
	if got := fx.ids(); !reflect.DeepEqual(got, []string{"3", "4"}) {
		t.Fatalf("ids %v", got)
	}
	ev := fx.sink.events()[0]
	if ev.Source != "source.pg_events" || ev.CustomerID != "c2" || ev.Type != "purchase" || !ev.Time.Equal(time.Date(2026, 11, 26, 10, 2, 0, 0, time.UTC)) {
		t.Errorf("event %+v", ev)
	}
	for f, want := range map[string]any{"qty": int64(2), "amount": 9.5, "tags": []any{"a", "b"}, "path": "/cart"} {
		if got, _ := ev.Record.Field(f); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", f, got, want)
		}
	}
	fx.poll(p, 0)

	// A restarted poller goes on from the stored cursor.
	p2 := fx.poller("pg_events", nil)
	fx.poll(p2, 0)
	fx.insert([3]string{"c4", "page_view", "2026-11-26T10:04:00Z"})
	fx.poll(p2, 1)
	if got := fx.ids(); !reflect.DeepEqual(got, []string{"3", "4", "5"}) {
		t.Fatalf("ids %v", got)
	}
}

func TestPollerEmptyTableAndPages(t *testing.T) {
	fx := newPGFixture(t)
	p := fx.poller("pg_events", func(o *CursorPollerOptions) { o.BatchSize = 2 })
	fx.poll(p, 0) // empty: every row added later is new
	for i := range 5 {
		fx.insert([3]string{fmt.Sprintf("c%d", i), "page_view", "2026-11-26T10:00:00Z"})
	}
	fx.poll(p, 5)
	if fx.sink.n != 3 {
		t.Errorf("sink called %d times, want 3 pages", fx.sink.n)
	}
	if got := fx.ids(); !reflect.DeepEqual(got, []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("ids %v", got)
	}
}

func TestPollerSinkRefusal(t *testing.T) {
	fx := newPGFixture(t)
	p := fx.poller("pg_events", nil)
	fx.poll(p, 0)
	fx.insert([3]string{"c1", "a", "2026-11-26T10:00:00Z"}, [3]string{"c2", "a", "2026-11-26T10:00:00Z"})
	fx.sink.fail = errors.New("busy")
	if n, err := p.Poll(context.Background()); err == nil || n != 0 {
		t.Fatalf("poll = %d, %v; want the sink's error", n, err)
	}
	if got := fx.cursor("offset/source.pg_events/events"); got != "<none>" {
		t.Fatalf("cursor advanced to %s past refused events", got)
	}
	fx.sink.fail = nil
	fx.poll(p, 2)
	if got := fx.ids(); !reflect.DeepEqual(got, []string{"1", "2"}) {
		t.Fatalf("ids %v", got)
	}
}

func TestPollerBackfillAndBadRows(t *testing.T) {
	fx := newPGFixture(t)
	fx.insert(
		[3]string{"c1", "a", "2026-11-20T00:00:00Z"}, // before Since
		[3]string{"c1", "a", "2026-11-26T00:00:00Z"},
		[3]string{"c1", "a", "not a time"},         // a bad value
		[3]string{"", "a", "2026-11-26T01:00:00Z"}, // no customer
		[3]string{"c2", "a", "2026-11-26T02:00:00Z"},
	)
	p := fx.poller("pg_events", func(o *CursorPollerOptions) {
		o.Since = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	})
	fx.poll(p, 2)
	if got := fx.ids(); !reflect.DeepEqual(got, []string{"2", "5"}) {
		t.Fatalf("ids %v", got)
	}
	// The rows compare as text (the column is text), so "not a time" is
	// after Since: it is read and skipped, as is the row without customer.
	if got := fx.rej.get(); !reflect.DeepEqual(got, map[string]int{ReasonInvalid: 2}) {
		t.Errorf("rejections %v", got)
	}
	fx.poll(p, 0)
}

func TestPollerCursorOutsideTheSchema(t *testing.T) {
	fx := newPGFixture(t)
	fx.srcs["pg_clicks"].From.Attributes["url"] = fx.srcs["pg_events"].From.Attributes["url"]
	p := fx.poller("pg_clicks", func(o *CursorPollerOptions) { o.Since = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) })
	for range 2 {
		fx.exec(`INSERT INTO clicks ("user", kind, "when", n) VALUES ('u1', 'click', '2026-11-26T10:00:00Z', 1)`)
	}
	fx.poll(p, 2)
	evs := fx.sink.events()
	if len(evs[0].Record.Layout.Names) != 4 || evs[0].Record.Layout.Index("seq") >= 0 {
		t.Errorf("record layout %v has more than the schema", evs[0].Record.Layout.Names)
	}
	if evs[0].ID == evs[1].ID || !strings.HasPrefix(evs[0].ID, "source.pg_clicks/clicks@1/") || !strings.HasPrefix(evs[1].ID, "source.pg_clicks/clicks@2/") {
		t.Errorf("ids %q, %q", evs[0].ID, evs[1].ID)
	}
	if evs[0].CustomerID != "u1" || evs[0].Type != "click" {
		t.Errorf("event %+v", evs[0])
	}
}

func TestPollerTimestampCursorTies(t *testing.T) {
	fx := newPGFixture(t)
	fx.exec(`ALTER TABLE events ALTER COLUMN at TYPE timestamptz USING at::timestamptz`)
	p := fx.poller("pg_timed", func(o *CursorPollerOptions) { o.BatchSize = 2 })
	fx.poll(p, 0)
	// Three rows share a time, across the boundary of a page of two.
	fx.insert(
		[3]string{"c1", "a", "2026-11-26T10:00:00.123456Z"},
		[3]string{"c2", "a", "2026-11-26T10:00:00.123456Z"},
		[3]string{"c3", "a", "2026-11-26T10:00:00.123456Z"},
		[3]string{"c4", "test", "2026-11-26T11:00:00Z"},
		[3]string{"c5", "a", "2026-11-26T12:00:00Z"},
	)
	fx.poll(p, 4)
	var custs []string
	for _, ev := range fx.sink.events() {
		custs = append(custs, ev.CustomerID)
	}
	if !reflect.DeepEqual(custs, []string{"c1", "c2", "c3", "c5"}) {
		t.Fatalf("customers %v", custs)
	}
	if got := fx.cursor("offset/source.pg_timed/query"); got != "2026-11-26T12:00:00Z" {
		t.Errorf("cursor %q", got)
	}
	fx.poll(p, 0)
}

func TestPollerChecks(t *testing.T) {
	fx := newPGFixture(t)
	src := *fx.srcs["pg_events"]
	src.Cursor = "missing"
	_, err := NewCursorPoller(context.Background(), CursorPollerOptions{Source: &src, Sink: fx.sink.sink, Offsets: fx.offsets})
	if err == nil || !strings.Contains(err.Error(), `no column "missing"`) {
		t.Fatalf("err = %v", err)
	}
	src.Cursor = ""
	if _, err := NewCursorPoller(context.Background(), CursorPollerOptions{Source: &src, Sink: fx.sink.sink, Offsets: fx.offsets}); err == nil {
		t.Fatal("a source without cursor was taken")
	}
}
