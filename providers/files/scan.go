package files

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/heraldhq/herald/providers"
)

// A rowReader reads a table one row at a time.
type rowReader interface {
	// layout is the layout of the records next fills.
	layout() *providers.Layout
	// next reads the next row into vals, setting every element (nil for an
	// absent field). It returns io.EOF after the last row, and a
	// *providers.RowError for a bad row, after which it can go on with the
	// row after it; any other error is final.
	next(vals []any) error
}

// batch is one buffer of records, filled by the reading goroutine and
// handed to the scan's callback.
type batch struct {
	recs []providers.Record
	vals []any // the Values of every record, one slab
	n    int   // records filled
	err  error // what ended the batch early: io.EOF, or an error
}

// buffers is how many batches exist at once: one being filled, one in the
// callback, one ready, so that neither side waits for the other while both
// keep pace.
const buffers = 3

// scan reads rr to the end in batches, calling fn for each from the calling
// goroutine while a second goroutine reads the next batch. Row errors are
// counted when skip is set; other read errors go through wrap.
func scan(ctx context.Context, rr rowReader, skip bool, batchSize int, fn func([]providers.Record) error, wrap func(error) error) (providers.ScanStats, error) {
	if batchSize <= 0 {
		batchSize = providers.DefaultBatchSize
	}
	lay := rr.layout()
	nf := len(lay.Names)
	free := make(chan *batch, buffers)
	full := make(chan *batch, buffers) // never blocks: there are only `buffers` batches
	for range buffers {
		b := &batch{recs: make([]providers.Record, batchSize), vals: make([]any, batchSize*nf)}
		for i := range b.recs {
			b.recs[i] = providers.Record{Layout: lay, Values: b.vals[i*nf : (i+1)*nf : (i+1)*nf]}
		}
		free <- b
	}
	stop := make(chan struct{})

	// Written by the reader, read after it has closed full.
	var skipped int64
	var firstSkipped string
	go func() {
		defer close(full)
		for {
			var b *batch
			select {
			case b = <-free:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
			b.n, b.err = 0, nil
			for b.n < batchSize {
				err := rr.next(b.recs[b.n].Values)
				if err == nil {
					b.n++
					continue
				}
				var re *providers.RowError
				if skip && errors.As(err, &re) {
					if skipped == 0 {
						firstSkipped = re.Error()
					}
					skipped++
					continue
				}
				b.err = err
				break
			}
			full <- b
			if b.err != nil {
				return
			}
		}
	}()

	// However the scan ends (even by a panic in fn), stop the reader and
	// wait for it, so that it does not outlive the file it reads.
	var once sync.Once
	halt := func() {
		once.Do(func() {
			close(stop)
			for range full {
			}
		})
	}
	defer halt()
	var stats providers.ScanStats
	finish := func(err error) (providers.ScanStats, error) {
		halt()
		stats.Skipped, stats.FirstSkipped = skipped, firstSkipped
		return stats, err
	}
	for b := range full {
		if err := ctx.Err(); err != nil {
			return finish(err)
		}
		if b.n > 0 {
			stats.Rows += int64(b.n)
			if err := fn(b.recs[:b.n]); err != nil {
				return finish(err)
			}
		}
		switch b.err {
		case nil:
			free <- b
			continue
		case io.EOF:
			return finish(nil)
		}
		var re *providers.RowError
		if errors.As(b.err, &re) {
			return finish(b.err)
		}
		return finish(wrap(b.err))
	}
	// The reader stopped without an error: the context was cancelled.
	return finish(ctx.Err())
}
