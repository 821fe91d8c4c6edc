package inbound

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/files"
)

// DefaultBatchSize is how many events a tailer or poller hands the Sink at
// once when its options say 0.
const DefaultBatchSize = 500

// MaxLineBytes is the longest JSONL line a tailer reads; a longer one is
// skipped as too large.
const MaxLineBytes = 1 << 20

// TailerOptions configure a Tailer.
type TailerOptions struct {
	// Dir is the project directory, which the files provider's dir is
	// relative to.
	Dir string
	// Source is a files source whose table is a .jsonl file.
	Source *lang.Source
	// Sink takes the events, a batch at a time.
	Sink Sink
	// Offsets keeps the read position under OffsetKey(source, table).
	Offsets Offsets
	// Since, when set, is a bounded backfill: with no stored offset the
	// tailer reads the file from the start instead of from its end, and
	// it passes on only events with Time at or after Since.
	Since time.Time
	// BatchSize is the most events per Sink call; DefaultBatchSize when 0.
	BatchSize int
	// OnReject, when set, is called once per line skipped, with
	// ReasonMalformed, ReasonInvalid or ReasonTooLarge.
	OnReject func(reason string)
	// Logger gets warnings (a file replaced, lines skipped) with files,
	// offsets and counts, never values; slog.Default when nil.
	Logger *slog.Logger
}

// Tailer reads the lines appended to a files source's JSONL table and
// hands them to a Sink. The offset of the last line the Sink accepted is
// kept in Offsets, so a restarted tailer goes on where it stopped.
type Tailer struct {
	opts TailerOptions
	es   *eventSchema
	key  string
	req  providers.SourceRequest
	log  *slog.Logger

	mu   sync.Mutex // one poll at a time
	path string     // the file, once it exists
	// rejectedTo is the offset up to which bad lines were reported, so
	// that lines read again after a refused batch are not counted twice.
	rejectedTo int64
}

// NewTailer checks the source and returns its tailer. The table file need
// not exist yet: polls find nothing until it does.
func NewTailer(opts TailerOptions) (*Tailer, error) {
	es, err := newEventSchema(opts.Source)
	if err != nil {
		return nil, err
	}
	src := opts.Source
	switch {
	case src.From == nil || src.From.Type != "files":
		return nil, fmt.Errorf("%s: a tailer reads a files source", es.addr)
	case opts.Sink == nil || opts.Offsets == nil:
		return nil, fmt.Errorf("%s: a tailer needs a Sink and Offsets", es.addr)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	t := &Tailer{
		opts: opts,
		es:   es,
		key:  OffsetKey(src.Name, src.Table),
		req:  providers.SourceRequest{Dir: opts.Dir, Provider: src.From, Source: src, Layout: es.lay},
		log:  opts.Logger,
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	t.log = t.log.With("source", es.addr, "file", src.Table)
	if _, err := t.resolve(context.Background()); err != nil {
		return nil, err
	}
	return t, nil
}

// resolve finds the table file through the files provider, which checks
// its name and format; "" while the file does not exist.
func (t *Tailer) resolve(ctx context.Context) (string, error) {
	if t.path != "" {
		return t.path, nil
	}
	s, err := files.Open(ctx, t.req)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if s.Format() != files.JSONL {
		return "", fmt.Errorf("%s: table %q is not a .jsonl file: a tailer reads one JSON object per line", t.es.addr, t.opts.Source.Table)
	}
	t.path = s.Path()
	return t.path, nil
}

// Run polls every interval until ctx is done, and then returns nil. A
// failed poll (a Sink that refuses, an unreadable file) is logged and tried
// again at the next tick.
func (t *Tailer) Run(ctx context.Context, every time.Duration) error {
	return runEvery(ctx, every, "tail", t.log, t.Poll)
}

// Poll reads the complete lines appended since the last poll, hands their
// events to the Sink in batches and saves the offset after each batch the
// Sink accepts. It returns how many events the Sink accepted. A Sink error
// stops the poll and is returned; the lines after the last accepted batch
// are read again by the next poll.
func (t *Tailer) Poll(ctx context.Context) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	path, err := t.resolve(ctx)
	if err != nil {
		return 0, err
	}
	if path == "" {
		return 0, t.awaitFile(ctx)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // between a rotation's rename and create
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := t.start(ctx, f)
	if err != nil {
		return 0, err
	}
	if _, err := f.Seek(st.Offset, io.SeekStart); err != nil {
		return 0, err
	}
	return t.read(ctx, f, st)
}

// start is where this poll begins: the stored offset, unless the file was
// truncated or replaced since; with none stored, the end of the file (or
// its start, for a backfill), saved at once so that lines appended before
// the next poll are not missed after a restart.
func (t *Tailer) start(ctx context.Context, f *os.File) (tailState, error) {
	fi, err := f.Stat()
	if err != nil {
		return tailState{}, err
	}
	fp, err := fingerprint(f)
	if err != nil {
		return tailState{}, err
	}
	cur := tailState{Inode: inode(fi), FP: fp}
	b, found, err := t.opts.Offsets.Value(ctx, t.key)
	if err != nil {
		return tailState{}, fmt.Errorf("%s: reading the offset: %w", t.es.addr, err)
	}
	if found {
		st, err := decodeTailState(b)
		if err == nil {
			why := ""
			switch {
			case fi.Size() < st.Offset:
				why = "it shrank"
			case st.Inode != 0 && cur.Inode != 0 && st.Inode != cur.Inode:
				why = "it is a new file"
			case st.FP != "" && st.FP != cur.FP:
				why = "its first line changed"
			}
			if why == "" {
				cur.Offset = st.Offset
				return cur, nil
			}
			t.log.Warn("tail: the file was truncated or replaced ("+why+"); reading it from the start", "offset", st.Offset, "size", fi.Size())
			t.rejectedTo = 0
			return cur, t.save(ctx, cur)
		}
		t.log.Warn("tail: "+err.Error()+"; starting as on a first run", "key", t.key)
	}
	if t.opts.Since.IsZero() {
		// History is not replayed: a trigger reacts to what happens from
		// now on, unless it asks for a backfill.
		if cur.Offset, err = endOfLastLine(f, fi.Size()); err != nil {
			return tailState{}, err
		}
	}
	return cur, t.save(ctx, cur)
}

// awaitFile records, on a first run, that the table does not exist yet:
// every line of the file once it appears is new, so it is read from the
// start rather than from its end.
func (t *Tailer) awaitFile(ctx context.Context) error {
	_, found, err := t.opts.Offsets.Value(ctx, t.key)
	if err != nil {
		return fmt.Errorf("%s: reading the offset: %w", t.es.addr, err)
	}
	if found {
		return nil
	}
	return t.save(ctx, tailState{})
}

func (t *Tailer) save(ctx context.Context, st tailState) error {
	if err := t.opts.Offsets.PutValue(ctx, t.key, st.encode()); err != nil {
		return fmt.Errorf("%s: saving the offset: %w", t.es.addr, err)
	}
	return nil
}

// read consumes the complete lines from st.Offset on.
func (t *Tailer) read(ctx context.Context, f *os.File, st tailState) (int, error) {
	lr := &lineReader{r: bufio.NewReaderSize(f, 64<<10), max: MaxLineBytes}
	var (
		batch    []Event
		accepted int
		saved    = st.Offset
	)
	flush := func() error {
		if len(batch) > 0 {
			if err := t.opts.Sink(ctx, batch); err != nil {
				return fmt.Errorf("%s: %d events not accepted: %w", t.es.addr, len(batch), err)
			}
			accepted += len(batch)
			batch = nil
		}
		if st.Offset != saved {
			if err := t.save(ctx, st); err != nil {
				return err
			}
			saved = st.Offset
		}
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return accepted, err
		}
		line, n, tooLong, ok, err := lr.next()
		if err != nil {
			return accepted, err
		}
		if !ok {
			break
		}
		at := st.Offset
		st.Offset += n
		if st.FP == "" {
			// The first line was completed during this poll.
			if st.FP, err = fingerprint(f); err != nil {
				return accepted, err
			}
		}
		ev, ok := t.event(line, at, tooLong, st.FP)
		if !ok || (!t.opts.Since.IsZero() && ev.Time.Before(t.opts.Since)) {
			continue
		}
		batch = append(batch, ev)
		if len(batch) >= t.opts.BatchSize {
			if err := flush(); err != nil {
				return accepted, err
			}
		}
	}
	return accepted, flush()
}

// event types one line at offset at; ok is false for a blank line or a
// bad one, which is reported.
func (t *Tailer) event(line []byte, at int64, tooLong bool, fp string) (Event, bool) {
	if tooLong {
		t.reject(at, ReasonTooLarge, fmt.Sprintf("the line is over %d bytes", MaxLineBytes))
		return Event{}, false
	}
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(bytes.TrimSpace(line)) == 0 {
		return Event{}, false
	}
	obj, err := decodeObject(line)
	if err != nil {
		t.reject(at, ReasonMalformed, "the line "+err.Error())
		return Event{}, false
	}
	rec := &providers.Record{Layout: t.es.lay, Values: make([]any, len(t.es.lay.Names))}
	if fe := typeFields(t.es.lay, obj, rec.Values, ""); fe != nil {
		t.reject(at, ReasonInvalid, fe.logSafe())
		return Event{}, false
	}
	ev, fe := t.es.event(rec, t.es.fieldName)
	if fe != nil {
		t.reject(at, ReasonInvalid, fe.logSafe())
		return Event{}, false
	}
	if ev.ID == "" {
		// The file's fingerprint tells this file's offset 120 from that of
		// the file it replaced.
		ev.ID = t.opts.Source.Table + "@" + fp + ":" + strconv.FormatInt(at, 10)
	}
	return ev, true
}

// reject reports a bad line once, however often it is read.
func (t *Tailer) reject(at int64, reason, problem string) {
	if at < t.rejectedTo {
		return
	}
	t.rejectedTo = at + 1
	t.log.Warn("tail: line skipped", "offset", at, "reason", reason, "problem", problem)
	if t.opts.OnReject != nil {
		t.opts.OnReject(reason)
	}
}
