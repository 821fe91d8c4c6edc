// Package files is the "files" data provider: a directory of tables, each
// read by its extension — CSV with a header row (.csv) or one JSON object
// per line (.jsonl) — and typed by the source's schema.
//
// A table is streamed: a scan holds a few batches of records, never the
// table. Reading and typing run on their own goroutine, one batch ahead of
// the scan's callback, so that on a machine with two cores the planner
// evaluates one batch while the next is parsed.
package files

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

func init() { providers.RegisterSource("files", Factory) }

// Factory is the providers.SourceFactory of the files provider.
func Factory(ctx context.Context, req providers.SourceRequest) (providers.Source, error) {
	s, err := Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Format is how a table file is written.
type Format int

// The formats, by file extension.
const (
	CSV   Format = iota + 1 // .csv: RFC 4180 with a header row
	JSONL                   // .jsonl: one JSON object per line
)

// Source is one table file. It holds no open file between scans.
type Source struct {
	path    string // the file, as opened
	display string // the file relative to the project, for messages
	table   string // the table as the source names it, for row errors
	format  Format
	layout  *providers.Layout
	skip    bool
	key     string
}

// Open checks that the table of req is a file inside the provider's dir and
// returns it as a Source; nothing is read until Scan. The table's path may
// not leave the dir ("../x.csv" is refused); a symbolic link in the dir is
// followed, wherever it points, since whoever placed it chose to.
func Open(ctx context.Context, req providers.SourceRequest) (*Source, error) {
	if req.Provider == nil || req.Source == nil {
		return nil, errors.New("files: source request without a provider or a source")
	}
	src, prov := req.Source, req.Provider
	what := "source." + src.Name
	if src.Query != "" {
		return nil, fmt.Errorf("%s: provider.%s reads table files, not queries: set table = \"%s.csv\" instead of query",
			what, prov.Address(), src.Name)
	}
	if src.Table == "" {
		return nil, fmt.Errorf("%s: no table: set table = \"%s.csv\" (a file in the dir of provider.%s)", what, src.Name, prov.Address())
	}
	dir, err := dirAttr(prov)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	name := filepath.FromSlash(src.Table)
	if !filepath.IsLocal(name) {
		return nil, fmt.Errorf("%s: table %q is not inside the dir %q of provider.%s: name a file inside that directory, or change its dir",
			what, src.Table, dir, prov.Address())
	}
	s := &Source{
		display: filepath.Join(dir, name),
		table:   src.Table,
		layout:  req.Layout,
		skip:    src.OnError == "skip",
		key:     src.Key,
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		s.format = CSV
	case ".jsonl", ".ndjson":
		s.format = JSONL
	default:
		return nil, fmt.Errorf("%s: table %q has an unknown format: name a .csv file (with a header row) or a .jsonl file", what, src.Table)
	}
	if s.format == JSONL && s.layout == nil {
		return nil, fmt.Errorf("%s: a JSONL table needs a schema to say which fields to read: set schema = schema.NAME", what)
	}
	root := dir
	if !filepath.IsAbs(root) {
		root = filepath.Join(req.Dir, root)
	}
	s.path = filepath.Join(root, name)
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, notExist(fmt.Sprintf("%s: %s does not exist: put the table there, or change table = %q or the dir of provider.%s",
			what, s.display, src.Table, prov.Address()))
	case err != nil:
		return nil, fmt.Errorf("%s: %w", what, err)
	case fi.IsDir():
		return nil, fmt.Errorf("%s: %s is a directory, not a table file", what, s.display)
	}
	return s, nil
}

// notExist is a missing table: errors.Is(err, fs.ErrNotExist) holds.
type notExist string

func (e notExist) Error() string { return string(e) }
func (e notExist) Unwrap() error { return fs.ErrNotExist }

// dirAttr is the provider's dir attribute, "." when it is not set.
func dirAttr(p *lang.Provider) (string, error) {
	v, ok := p.Attributes["dir"]
	if !ok || v == cty.NilVal || v.IsNull() {
		return ".", nil
	}
	if !v.IsWhollyKnown() || v.Type() != cty.String {
		return "", fmt.Errorf("the dir of provider.%s is not a known string", p.Address())
	}
	d := v.AsString()
	if d == "" {
		d = "."
	}
	return filepath.FromSlash(d), nil
}

// Path returns the table file as Scan opens it.
func (s *Source) Path() string { return s.path }

// Format returns how the table file is written.
func (s *Source) Format() Format { return s.format }

// Close releases nothing: a Source holds no open file between scans.
func (s *Source) Close() error { return nil }

// Scan reads the table from the start, handing fn batches of at most
// batchSize records (providers.DefaultBatchSize when batchSize <= 0).
func (s *Source) Scan(ctx context.Context, batchSize int, fn func([]providers.Record) error) (providers.ScanStats, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return providers.ScanStats{}, fmt.Errorf("reading %s: %w", s.display, err)
	}
	defer f.Close()
	size := readBuffer
	if fi, err := f.Stat(); err == nil && fi.Size() < int64(size) {
		size = int(fi.Size()) + 1 // a small table needs no large buffer
	}
	l := newLines(f, size)
	var rr rowReader
	switch s.format {
	case CSV:
		rr, err = newCSVReader(l, s.table, s.layout, s.key)
	default:
		rr, err = newJSONLReader(l, s.table, s.layout, s.key), nil
	}
	if err != nil {
		return providers.ScanStats{}, fmt.Errorf("reading %s: %w", s.display, err)
	}
	return scan(ctx, rr, s.skip, batchSize, fn, func(err error) error {
		return fmt.Errorf("reading %s: %w", s.display, err)
	})
}

var _ providers.Source = (*Source)(nil)
