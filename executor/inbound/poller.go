package inbound

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/postgres"
)

// CursorPollerOptions configure a CursorPoller.
type CursorPollerOptions struct {
	// Source is a postgres source with a table (or a query) and a cursor:
	// a column whose values order new rows, such as a bigserial id or an
	// insertion timestamp.
	Source *lang.Source
	// Sink takes the events, a page at a time.
	Sink Sink
	// Offsets keeps the last cursor value read under
	// OffsetKey(source, table).
	Offsets Offsets
	// Since, when set, is a bounded backfill: with no stored cursor the
	// poller reads from the first row instead of from max(cursor), and it
	// reads only rows whose time field is at or after Since.
	Since time.Time
	// BatchSize is the number of rows per page (the LIMIT);
	// DefaultBatchSize when 0.
	BatchSize int
	// OnReject, when set, is called once per row skipped, with
	// ReasonInvalid.
	OnReject func(reason string)
	// Logger gets warnings with counts, never values; slog.Default when
	// nil.
	Logger *slog.Logger
}

// CursorPoller reads the rows of a postgres source whose cursor is past
// the last one read, in cursor order, and hands them to a Sink. The cursor
// value of the last page the Sink accepted is kept in Offsets.
type CursorPoller struct {
	opts CursorPollerOptions
	es   *eventSchema
	key  string
	log  *slog.Logger

	// rows reads the schema's columns and the cursor; cursors reads only
	// the cursor, as text, to find where a page ends.
	rows, cursors *postgres.Source
	curIdx        int    // the cursor's index in the rows' layout
	curCol        string // the cursor column, quoted
	timeCol       string // the time field's column, quoted

	mu sync.Mutex // one poll at a time
}

// NewCursorPoller connects to the source's database and checks that its
// table has the cursor column. Close it when done.
func NewCursorPoller(ctx context.Context, opts CursorPollerOptions) (*CursorPoller, error) {
	es, err := newEventSchema(opts.Source)
	if err != nil {
		return nil, err
	}
	src := opts.Source
	switch {
	case src.From == nil || src.From.Type != "postgres":
		return nil, fmt.Errorf("%s: a cursor poller reads a postgres source", es.addr)
	case src.Cursor == "":
		return nil, fmt.Errorf("%s: no cursor: set cursor = \"COLUMN\", a column that orders new rows (a bigserial id, an insertion time)", es.addr)
	case opts.Sink == nil || opts.Offsets == nil:
		return nil, fmt.Errorf("%s: a cursor poller needs a Sink and Offsets", es.addr)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	table := src.Table
	if table == "" {
		table = "query"
	}
	p := &CursorPoller{
		opts:    opts,
		es:      es,
		key:     OffsetKey(src.Name, table),
		log:     opts.Logger,
		curCol:  pgx.Identifier{src.Cursor}.Sanitize(),
		timeCol: pgx.Identifier{eventFields(src).Time}.Sanitize(),
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("source", es.addr, "table", table)

	// A bad row is skipped and counted, as a tailer skips a bad line: one
	// row must not stop every trigger of the source.
	skipping := *src
	skipping.OnError = "skip"
	lay := es.lay
	if p.curIdx = lay.Index(src.Cursor); p.curIdx < 0 {
		lay = withField(es.lay, src.Cursor)
		p.curIdx = len(lay.Names) - 1
	}
	req := providers.SourceRequest{Provider: src.From, Source: &skipping, Layout: lay}
	if p.rows, err = postgres.Open(ctx, req); err != nil {
		return nil, err
	}
	req.Layout = providers.NewLayoutOf([]string{src.Cursor}, nil)
	if p.cursors, err = postgres.Open(ctx, req); err != nil {
		p.rows.Close()
		return nil, err
	}
	// The postgres source selects only the layout's fields the table has:
	// without the cursor column it selects nothing.
	if !strings.HasPrefix(p.cursors.SelectSQL(), "SELECT "+p.curCol+" FROM ") {
		p.Close()
		return nil, fmt.Errorf("%s: the table has no column %q, the source's cursor", es.addr, src.Cursor)
	}
	return p, nil
}

// withField is lay with one more field, a string: the cursor, read as
// text when the schema does not declare it.
func withField(lay *providers.Layout, name string) *providers.Layout {
	types := map[string]*lang.FieldType{}
	for i, n := range lay.Names {
		types[n] = lay.Types[i]
	}
	return providers.NewLayoutOf(append(append([]string(nil), lay.Names...), name), types)
}

// Close closes the poller's connections.
func (p *CursorPoller) Close() error {
	p.rows.Close()
	p.cursors.Close()
	return nil
}

// Run polls every interval until ctx is done, and then returns nil. A
// failed poll (a Sink that refuses, a database that is down) is logged and
// tried again at the next tick.
func (p *CursorPoller) Run(ctx context.Context, every time.Duration) error {
	return runEvery(ctx, every, "cursor poll", p.log, p.Poll)
}

// pollState is what a poller keeps under its offset key. Cursor is the
// last cursor value read, as PostgreSQL writes it; nil means "from the
// first row" (the table was empty at the first start, or a backfill).
type pollState struct {
	Cursor *string `json:"cursor"`
}

// Poll reads the rows past the stored cursor, a page of BatchSize at a
// time, hands each page's events to the Sink and saves the cursor after
// each page the Sink accepts. It returns how many events the Sink
// accepted; a Sink error stops the poll and is returned, and the next poll
// reads the same page again.
func (p *CursorPoller) Poll(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.start(ctx)
	if err != nil {
		return 0, err
	}
	accepted := 0
	for {
		if err := ctx.Err(); err != nil {
			return accepted, err
		}
		end, n, err := p.pageEnd(ctx, st)
		if err != nil || n == 0 {
			return accepted, err
		}
		evs, err := p.page(ctx, st, end)
		if err != nil {
			return accepted, err
		}
		if len(evs) > 0 {
			if err := p.opts.Sink(ctx, evs); err != nil {
				return accepted, fmt.Errorf("%s: %d events not accepted: %w", p.es.addr, len(evs), err)
			}
			accepted += len(evs)
		}
		st.Cursor = &end
		if err := p.save(ctx, st); err != nil {
			return accepted, err
		}
		if n < p.opts.BatchSize {
			return accepted, nil // caught up
		}
	}
}

// start is the stored cursor; on a first start, max(cursor), so that
// history is not replayed, or the first row for a backfill. It is saved
// at once so that rows added before the next poll are not missed after a
// restart.
func (p *CursorPoller) start(ctx context.Context) (pollState, error) {
	b, found, err := p.opts.Offsets.Value(ctx, p.key)
	if err != nil {
		return pollState{}, fmt.Errorf("%s: reading the cursor: %w", p.es.addr, err)
	}
	var st pollState
	if found {
		if err := json.Unmarshal(b, &st); err == nil {
			return st, nil
		}
		p.log.Warn("cursor poll: the stored cursor is not one a poller wrote; starting as on a first run", "key", p.key)
	}
	if p.opts.Since.IsZero() {
		var last []string
		if _, err := p.cursors.ScanWhere(ctx, p.curCol+" IS NOT NULL ORDER BY "+p.curCol+" DESC LIMIT 1", nil, 1, collectCursors(&last)); err != nil {
			return pollState{}, err
		}
		if len(last) > 0 {
			st.Cursor = &last[0]
		}
	}
	return st, p.save(ctx, st)
}

func (p *CursorPoller) save(ctx context.Context, st pollState) error {
	b, _ := json.Marshal(st)
	if err := p.opts.Offsets.PutValue(ctx, p.key, b); err != nil {
		return fmt.Errorf("%s: saving the cursor: %w", p.es.addr, err)
	}
	return nil
}

// where is the condition of the rows past st, with its arguments: the
// cursor after st.Cursor, the time at or after Since.
func (p *CursorPoller) where(st pollState) (string, []any) {
	var conds []string
	var args []any
	if st.Cursor != nil {
		args = append(args, *st.Cursor)
		conds = append(conds, p.curCol+" > $1")
	} else {
		conds = append(conds, p.curCol+" IS NOT NULL")
	}
	if !p.opts.Since.IsZero() {
		// As text, which PostgreSQL reads as the column's type, timestamp
		// or timestamptz alike.
		args = append(args, p.opts.Since.UTC().Format(time.RFC3339Nano))
		conds = append(conds, p.timeCol+" >= $"+strconv.Itoa(len(args)))
	}
	return strings.Join(conds, " AND "), args
}

// pageEnd finds the cursor value that ends the next page: the
// BatchSize-th row past st, or the last one. n is the page's row count.
// The cursor is read as PostgreSQL writes it, so that comparing with it
// again is exact whatever the column's type.
func (p *CursorPoller) pageEnd(ctx context.Context, st pollState) (end string, n int, err error) {
	where, args := p.where(st)
	var cursors []string
	where += " ORDER BY " + p.curCol + " LIMIT " + strconv.Itoa(p.opts.BatchSize)
	if _, err := p.cursors.ScanWhere(ctx, where, args, p.opts.BatchSize, collectCursors(&cursors)); err != nil {
		return "", 0, err
	}
	if len(cursors) == 0 {
		return "", 0, nil
	}
	return cursors[len(cursors)-1], len(cursors), nil
}

func collectCursors(dst *[]string) func([]providers.Record) error {
	return func(batch []providers.Record) error {
		for _, r := range batch {
			if s, ok := r.Values[0].(string); ok {
				*dst = append(*dst, s)
			}
		}
		return nil
	}
}

// page reads the rows past st up to end, the page's last cursor value. It
// has no LIMIT, so rows that share the end's cursor value (a timestamp
// cursor) are all in this page rather than split across two.
func (p *CursorPoller) page(ctx context.Context, st pollState, end string) ([]Event, error) {
	where, args := p.where(st)
	args = append(args, end)
	where += " AND " + p.curCol + " <= $" + strconv.Itoa(len(args)) + " ORDER BY " + p.curCol
	var evs []Event
	bad := 0
	stats, err := p.rows.ScanWhere(ctx, where, args, p.opts.BatchSize, func(batch []providers.Record) error {
		for _, r := range batch {
			if ev, ok := p.event(r); ok {
				evs = append(evs, ev)
			} else {
				bad++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if skipped := int(stats.Skipped) + bad; skipped > 0 {
		// FirstSkipped quotes a value: it stays out of the log.
		p.log.Warn("cursor poll: rows skipped", "rows", skipped, "reason", ReasonInvalid)
		for range skipped {
			if p.opts.OnReject != nil {
				p.opts.OnReject(ReasonInvalid)
			}
		}
	}
	return evs, nil
}

// event makes an Event of a row; the batch's record is reused, so the
// schema's values are copied out.
func (p *CursorPoller) event(r providers.Record) (Event, bool) {
	vals := make([]any, len(p.es.lay.Names))
	copy(vals, r.Values)
	ev, fe := p.es.event(&providers.Record{Layout: p.es.lay, Values: vals}, p.es.fieldName)
	if fe != nil {
		p.log.Debug("cursor poll: row skipped", "problem", fe.logSafe())
		return Event{}, false
	}
	if ev.ID == "" {
		cur, _ := text(r.Values[p.curIdx])
		ev.ID = p.key[len("offset/"):] + "@" + cur + "/" + rowDigest(vals)
	}
	return ev, true
}

// rowDigest tells apart rows without an id that share a cursor value, and
// is the same each time the row is read.
func rowDigest(vals []any) string {
	h := sha256.New()
	for _, v := range vals {
		s, _ := text(v)
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
