// Package datagen writes deterministic synthetic data for Acme Outdoor, a
// fictional outdoor retailer: customers, their consent records and their web
// and email events. The output is what herald's files provider reads (CSV and
// JSONL tables) and is used by the examples, the tests and the benchmarks.
//
// The same Options always produce the same bytes. Rows are generated one at a
// time and written through a bufio.Writer, so a million customers (about
// 115 MB of CSV) need no more memory than ten.
//
// Every customer is generated from its own random stream, seeded from
// Options.Seed and the customer's number, so the three tables agree with each
// other (a consent row for SMS only exists for a customer with a phone) without
// any table being held in memory. All values are fictional: e-mail addresses
// use the reserved example.com, example.org and example.net domains, and phone
// numbers are taken from the ranges reserved for fiction where the country has
// one (see phone in tables.go).
package datagen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// DefaultNow is the reference time used when Options.Now is zero.
var DefaultNow = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

// DefaultEventsPerCustomer is the mean number of events per customer used
// when Options.EventsPerCustomer is zero.
const DefaultEventsPerCustomer = 5.0

// Options says how much data to make and from which seed.
type Options struct {
	// Customers is the number of customers; ids run from 1 to Customers.
	Customers int
	// Seed selects the data set: the same seed gives the same bytes.
	Seed uint64
	// Now is the reference time: purchases lie in the two years before it,
	// events in the 30 days before it, no record is later than it.
	// The zero value means DefaultNow.
	Now time.Time
	// EventsPerCustomer is the mean number of events per customer. Zero means
	// DefaultEventsPerCustomer; a negative value means no events at all.
	EventsPerCustomer float64
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return DefaultNow
	}
	return o.Now.UTC().Truncate(time.Second)
}

func (o Options) eventsPerCustomer() float64 {
	switch {
	case o.EventsPerCustomer == 0:
		return DefaultEventsPerCustomer
	case o.EventsPerCustomer < 0:
		return 0
	}
	return o.EventsPerCustomer
}

func (o Options) check() error {
	if o.Customers < 0 {
		return fmt.Errorf("datagen: negative number of customers %d", o.Customers)
	}
	return nil
}

// File names written by Generate.
const (
	CustomersFile = "customers.csv"
	ConsentsFile  = "consents.csv"
	EventsFile    = "events.jsonl"
)

// Generate writes customers.csv, consents.csv and events.jsonl into dir,
// creating dir when it does not exist.
func Generate(dir string, o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer, Options) error
	}{
		{CustomersFile, WriteCustomers},
		{ConsentsFile, WriteConsents},
		{EventsFile, WriteEvents},
	} {
		if err := writeFile(filepath.Join(dir, f.name), o, f.write); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, o Options, write func(io.Writer, Options) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if err := write(f, o); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Random streams: each table draws from its own, so that adding a column to
// one table does not change the others.
const (
	streamCustomer uint64 = 0x6375_7374_6f6d_6572 // "customer"
	streamConsent  uint64 = 0x636f_6e73_656e_7473 // "consents"
	streamEvents   uint64 = 0x6576_656e_7473_0000 // "events"
)

// splitmix64 scrambles n so that neighbouring customers get unrelated seeds.
func splitmix64(n uint64) uint64 {
	n += 0x9e3779b97f4a7c15
	n = (n ^ (n >> 30)) * 0xbf58476d1ce4e5b9
	n = (n ^ (n >> 27)) * 0x94d049bb133111eb
	return n ^ (n >> 31)
}

// stream is a reseedable random source: reseeding reuses the PCG, so
// generating a row allocates nothing.
type stream struct {
	pcg *rand.PCG
	r   *rand.Rand
}

func newStream() *stream {
	p := rand.NewPCG(0, 0)
	return &stream{pcg: p, r: rand.New(p)}
}

func (s *stream) seed(seed, kind, n uint64) *rand.Rand {
	s.pcg.Seed(seed^kind, splitmix64(n^kind))
	return s.r
}

// rowWriter buffers rows and remembers the first write error.
type rowWriter struct {
	w   *bufio.Writer
	buf []byte
}

func newRowWriter(w io.Writer) *rowWriter {
	return &rowWriter{w: bufio.NewWriterSize(w, 256<<10), buf: make([]byte, 0, 512)}
}

// flushRow writes rw.buf and resets it.
func (rw *rowWriter) flushRow() error {
	_, err := rw.w.Write(rw.buf)
	rw.buf = rw.buf[:0]
	return err
}

func (rw *rowWriter) finish() error { return rw.w.Flush() }

// digits returns the number of decimal digits of n (n >= 0).
func digits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// idWidth is the number of digits of customer ids: at least six, more when
// there are a million customers or more, so that ids always sort.
func idWidth(customers int) int { return max(6, digits(customers)) }

// appendID appends prefix and n zero-padded to width digits.
func appendID(b []byte, prefix byte, n, width int) []byte {
	return appendPadded(append(b, prefix), n, width)
}

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

// appendPadded appends n zero-padded to width digits.
func appendPadded(b []byte, n, width int) []byte {
	for d := digits(n); d < width; d++ {
		b = append(b, '0')
	}
	return appendInt(b, n)
}

// appendTime appends t (Unix seconds) as an RFC 3339 timestamp in UTC.
func appendTime(b []byte, sec int64) []byte {
	return time.Unix(sec, 0).UTC().AppendFormat(b, time.RFC3339)
}

// appendCents appends c/100 with two decimals.
func appendCents(b []byte, c int64) []byte {
	b = strconv.AppendInt(b, c/100, 10)
	b = append(b, '.')
	if c%100 < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, c%100, 10)
}

var errNilWriter = errors.New("datagen: nil writer")
