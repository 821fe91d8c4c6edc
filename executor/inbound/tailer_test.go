package inbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// memOffsets is Offsets in a map.
type memOffsets struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (o *memOffsets) Value(_ context.Context, key string) ([]byte, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.m[key]
	return v, ok, nil
}

func (o *memOffsets) PutValue(_ context.Context, key string, value []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string][]byte{}
	}
	o.m[key] = append([]byte(nil), value...)
	return nil
}

func (o *memOffsets) offset(t *testing.T, key string) int64 {
	t.Helper()
	b, ok, _ := o.Value(context.Background(), key)
	if !ok {
		t.Fatalf("no offset stored under %s", key)
	}
	st, err := decodeTailState(b)
	if err != nil {
		t.Fatal(err)
	}
	return st.Offset
}

// tailFixture is a project directory with a data/ dir and a tailer of one
// of its sources.
type tailFixture struct {
	t       *testing.T
	dir     string
	file    string
	offsets *memOffsets
	sink    sinkRecorder
	rej     rejects
	logs    *bytes.Buffer
	opts    TailerOptions
}

func newTailFixture(t *testing.T, source string) *tailFixture {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := loadSources(t, "")[source]
	fx := &tailFixture{t: t, dir: dir, file: filepath.Join(dir, "data", src.Table), offsets: &memOffsets{}, logs: &bytes.Buffer{}}
	fx.opts = TailerOptions{
		Dir:      dir,
		Source:   src,
		Sink:     fx.sink.sink,
		Offsets:  fx.offsets,
		OnReject: fx.rej.on,
		Logger:   slog.New(slog.NewTextHandler(fx.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return fx
}

func (fx *tailFixture) tailer() *Tailer {
	fx.t.Helper()
	tl, err := NewTailer(fx.opts)
	if err != nil {
		fx.t.Fatal(err)
	}
	return tl
}

func (fx *tailFixture) write(s string) {
	fx.t.Helper()
	if err := os.WriteFile(fx.file, []byte(s), 0o644); err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *tailFixture) append(s string) {
	fx.t.Helper()
	f, err := os.OpenFile(fx.file, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		fx.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *tailFixture) poll(tl *Tailer, want int) {
	fx.t.Helper()
	n, err := tl.Poll(context.Background())
	if err != nil {
		fx.t.Fatalf("poll: %v", err)
	}
	if n != want {
		fx.t.Fatalf("poll accepted %d events, want %d", n, want)
	}
}

func (fx *tailFixture) ids() []string {
	var ids []string
	for _, ev := range fx.sink.events() {
		ids = append(ids, ev.ID)
	}
	return ids
}

func ev(id, cust, typ, at string) string {
	return fmt.Sprintf(`{"id":%q,"customer_id":%q,"type":%q,"path":"/cart","at":%q,"qty":1}`+"\n", id, cust, typ, at)
}

const key = "offset/source.events/events.jsonl"

func TestTailerStartsAtTheEnd(t *testing.T) {
	fx := newTailFixture(t, "events")
	fx.write(ev("e1", "c1", "page_view", "2026-11-26T10:00:00Z") + ev("e2", "c1", "page_view", "2026-11-26T10:01:00Z") + `{"id":"e3","cust`)
	tl := fx.tailer()
	fx.poll(tl, 0)
	// A partial last line is being written now: it is read once it is
	// complete, from its start.
	if got, want := fx.offsets.offset(t, key), int64(len(ev("e1", "c1", "page_view", "2026-11-26T10:00:00Z"))*2); got != want {
		t.Fatalf("first offset %d, want %d (the end of the last complete line)", got, want)
	}
	fx.append(`omer_id":"c1","type":"page_view","at":"2026-11-26T10:01:30Z"}` + "\n" + ev("e4", "c2", "purchase", "2026-11-26T10:02:00Z"))
	fx.poll(tl, 2)
	if got := fx.ids(); !reflect.DeepEqual(got, []string{"e3", "e4"}) {
		t.Fatalf("ids %v", got)
	}
	e := fx.sink.events()[1]
	if e.CustomerID != "c2" || e.Type != "purchase" || e.Source != "source.events" || !e.Time.Equal(time.Date(2026, 11, 26, 10, 2, 0, 0, time.UTC)) {
		t.Errorf("event %+v", e)
	}
	if q, _ := e.Record.Field("qty"); q != int64(1) {
		t.Errorf("qty = %#v", q)
	}
	if got := fx.rej.get(); len(got) != 0 {
		t.Errorf("rejections %v", got)
	}
}

func TestTailerPartialLineAndRestart(t *testing.T) {
	fx := newTailFixture(t, "events")
	fx.write("")
	tl := fx.tailer()
	fx.poll(tl, 0)
	fx.append(ev("e1", "c1", "page_view", "2026-11-26T10:00:00Z") + `{"id":"e2","customer_id":"c1",`)
	fx.poll(tl, 1)
	fx.poll(tl, 0) // the partial line is still not a line
	fx.append(`"type":"page_view","at":"2026-11-26T10:05:00Z"}` + "\n")
	fx.poll(tl, 1)

	// A new tailer (a restarted runner) goes on from the stored offset.
	tl2 := fx.tailer()
	fx.poll(tl2, 0)
	fx.append(ev("e3", "c1", "page_view", "2026-11-26T10:06:00Z"))
	fx.poll(tl2, 1)
	if got := fx.ids(); !reflect.DeepEqual(got, []string{"e1", "e2", "e3"}) {
		t.Fatalf("ids %v", got)
	}
	if st, _ := os.Stat(fx.file); fx.offsets.offset(t, key) != st.Size() {
		t.Errorf("offset %d, file size %d", fx.offsets.offset(t, key), st.Size())
	}
}

func TestTailerSinkRefusalKeepsTheOffset(t *testing.T) {
	fx := newTailFixture(t, "events")
	fx.opts.BatchSize = 2
	fx.write("")
	tl := fx.tailer()
	fx.poll(tl, 0)
	fx.append(ev("e1", "c1", "a", "2026-11-26T10:00:00Z") + "not json\n" + ev("e2", "c1", "a", "2026-11-26T10:00:00Z") + ev("e3", "c1", "a", "2026-11-26T10:00:00Z"))
	fx.sink.fail = errors.New("busy")
	if n, err := tl.Poll(context.Background()); err == nil || n != 0 {
		t.Fatalf("poll = %d, %v; want the sink's error", n, err)
	}
	if got := fx.offsets.offset(t, key); got != 0 {
		t.Fatalf("offset advanced to %d past events the sink refused", got)
	}
	fx.sink.fail = nil
	fx.poll(tl, 3)
	if got := fx.ids(); !reflect.DeepEqual(got, []string{"e1", "e2", "e3"}) {
		t.Fatalf("ids %v", got)
	}
	// The bad line was read twice but reported once.
	if got := fx.rej.get(); !reflect.DeepEqual(got, map[string]int{ReasonMalformed: 1}) {
		t.Errorf("rejections %v", got)
	}
	if fx.sink.n != 3 { // the refused batch, then two batches of at most 2
		t.Errorf("sink called %d times", fx.sink.n)
	}
}

func TestTailerTruncatedAndRotated(t *testing.T) {
	fx := newTailFixture(t, "events")
	fx.write("")
	tl := fx.tailer()
	fx.poll(tl, 0)
	fx.append(ev("e1", "c1", "a", "2026-11-26T10:00:00Z") + ev("e2", "c1", "a", "2026-11-26T10:00:00Z"))
	fx.poll(tl, 2)

	// Truncated to less than the offset.
	fx.write(ev("e3", "c1", "a", "2026-11-26T10:00:00Z"))
	fx.poll(tl, 1)
	if !strings.Contains(fx.logs.String(), "truncated or replaced (it shrank)") {
		t.Errorf("no warning in %s", fx.logs)
	}

	// Rotated: renamed away, and a new, longer file in its place.
	if err := os.Rename(fx.file, fx.file+".1"); err != nil {
		t.Fatal(err)
	}
	fx.poll(tl, 0)
	fx.write(ev("e4", "c2", "a", "2026-11-26T10:00:00Z") + ev("e5", "c2", "a", "2026-11-26T10:00:00Z"))
	fx.poll(tl, 2)
	if !strings.Contains(fx.logs.String(), "it is a new file") {
		t.Errorf("no rotation warning in %s", fx.logs)
	}

	// Replaced in place by a file as long, with another first line.
	fx.poll(tl, 0)
	size, _ := os.Stat(fx.file)
	fx.write(ev("e6", "c3", "a", "2026-11-26T10:00:00Z") + ev("e7", "c3", "a", "2026-11-26T10:00:00Z"))
	if s2, _ := os.Stat(fx.file); s2.Size() != size.Size() {
		t.Fatalf("sizes differ: %d, %d", s2.Size(), size.Size())
	}
	fx.poll(tl, 2)
	if got := fx.ids(); !reflect.DeepEqual(got, []string{"e1", "e2", "e3", "e4", "e5", "e6", "e7"}) {
		t.Fatalf("ids %v", got)
	}
}

func TestTailerBackfill(t *testing.T) {
	fx := newTailFixture(t, "events")
	fx.opts.Since = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	fx.write(ev("old", "c1", "a", "2026-11-25T23:59:59Z") + ev("new", "c1", "a", "2026-11-26T00:00:00Z") + ev("late-but-old", "c1", "a", "2026-11-20T00:00:00Z"))
	tl := fx.tailer()
	fx.poll(tl, 1)
	if got := fx.ids(); !reflect.DeepEqual(got, []string{"new"}) {
		t.Fatalf("ids %v", got)
	}
	// A stored offset wins over the backfill: nothing is read twice.
	fx.poll(fx.tailer(), 0)
}

func TestTailerBadLines(t *testing.T) {
	fx := newTailFixture(t, "events")
	fx.opts.Since = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // read from the start
	fx.write(strings.Join([]string{
		`{"id":"ok1","customer_id":"c1","type":"a","at":"2026-11-26T10:00:00Z"}`,
		`{"id":"bad-json",`,
		`[1,2]`,
		`{"id":"bad-type","customer_id":"c1","type":"a","at":"2026-11-26T10:00:00Z","qty":"lots"}`,
		`{"id":"no-customer","type":"a","at":"2026-11-26T10:00:00Z"}`,
		`{"id":"no-time","customer_id":"c1","type":"a"}`,
		``,
		`   `,
		`{"id":"too-long","customer_id":"c1","type":"a","at":"2026-11-26T10:00:00Z","path":"` + strings.Repeat("p", MaxLineBytes) + `"}`,
		`{"id":"ok2","customer_id":"c1","type":"a","at":"2026-11-26T10:00:00Z"}` + "\r",
	}, "\n") + "\n")
	tl := fx.tailer()
	fx.poll(tl, 2)
	if got := fx.ids(); !reflect.DeepEqual(got, []string{"ok1", "ok2"}) {
		t.Fatalf("ids %v", got)
	}
	want := map[string]int{ReasonMalformed: 2, ReasonInvalid: 3, ReasonTooLarge: 1}
	if got := fx.rej.get(); !reflect.DeepEqual(got, want) {
		t.Errorf("rejections %v, want %v", got, want)
	}
	// Values never reach the log; field names do.
	if logs := fx.logs.String(); strings.Contains(logs, "lots") || !strings.Contains(logs, `\"qty\"`) {
		t.Errorf("log: %s", logs)
	}
}

func TestTailerIDsWithoutIDField(t *testing.T) {
	fx := newTailFixture(t, "clicks")
	fx.opts.Since = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	line := `{"user":"u1","kind":"click","when":"2026-11-26T10:00:00Z"}` + "\n"
	fx.write(line + line)
	fx.poll(fx.tailer(), 2)
	first := fx.ids()
	if first[0] == first[1] || !strings.HasPrefix(first[0], "clicks.jsonl@") || !strings.HasSuffix(first[1], fmt.Sprintf(":%d", len(line))) {
		t.Fatalf("ids %v", first)
	}
	// Read again from scratch, the same lines have the same ids.
	fx.offsets.m = nil
	fx.poll(fx.tailer(), 2)
	if again := fx.ids()[2:]; !reflect.DeepEqual(again, first) {
		t.Fatalf("ids %v, then %v", first, again)
	}
}

func TestTailerFileAppearsLater(t *testing.T) {
	fx := newTailFixture(t, "events")
	tl := fx.tailer()
	fx.poll(tl, 0)
	fx.write(ev("e1", "c1", "a", "2026-11-26T10:00:00Z"))
	// The file did not exist when the tailer started: all of it is new.
	fx.poll(tl, 1)
}

func TestTailerRefusesOtherTables(t *testing.T) {
	srcs := loadSources(t, `
source "people" {
  from   = provider.files.cdp
  table  = "people.csv"
  schema = schema.event
}
`)
	_, err := NewTailer(TailerOptions{Dir: t.TempDir(), Source: srcs["people"], Sink: (&sinkRecorder{}).sink, Offsets: &memOffsets{}})
	if err == nil {
		// people.csv does not exist, so the files provider cannot say; it
		// must be refused once it does.
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "data"), 0o755)
		os.WriteFile(filepath.Join(dir, "data", "people.csv"), []byte("id\n"), 0o644)
		_, err = NewTailer(TailerOptions{Dir: dir, Source: srcs["people"], Sink: (&sinkRecorder{}).sink, Offsets: &memOffsets{}})
	}
	if err == nil || !strings.Contains(err.Error(), "not a .jsonl file") {
		t.Fatalf("err = %v", err)
	}
}

func TestTailerRun(t *testing.T) {
	fx := newTailFixture(t, "events")
	fx.write("")
	tl := fx.tailer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tl.Run(ctx, 5*time.Millisecond) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(fx.sink.events()) == 0 && time.Now().Before(deadline) {
		fx.append(ev("e1", "c1", "a", "2026-11-26T10:00:00Z"))
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(fx.sink.events()) == 0 {
		t.Fatal("Run read nothing")
	}
}
