package pushdown

import (
	"math"
	"time"

	"cel.dev/cel-go/common/types"
)

// PostgreSQL keeps timestamps and intervals in microseconds, CEL in
// nanoseconds. Every timestamp read from a postgres table is a whole number
// of microseconds, so a comparison of a column with a constant that is not
// one can be made exact by rounding the constant in the right direction.

func alignedTime(t time.Time) bool { return t.Nanosecond()%1000 == 0 }

func alignedDuration(d time.Duration) bool { return d%time.Microsecond == 0 }

// floorMicro rounds t down to a whole microsecond. (Nanosecond is always
// in [0, 1e9), so this is a floor also before the epoch.)
func floorMicro(t time.Time) time.Time {
	return t.Add(-time.Duration(t.Nanosecond() % 1000))
}

// ceilMicro rounds t up to a whole microsecond.
func ceilMicro(t time.Time) time.Time {
	if alignedTime(t) {
		return t
	}
	return floorMicro(t).Add(time.Microsecond)
}

// addDur returns t+d, t-d when sub, without overflowing -d.
func addDur(t time.Time, d time.Duration, sub bool) time.Time {
	if !sub {
		return t.Add(d)
	}
	if d == math.MinInt64 {
		return t.Add(math.MaxInt64).Add(1)
	}
	return t.Add(-d)
}

// bounds are the inclusive microsecond limits on a column outside of which
// CEL reports an error (an overflow) instead of a value. A nil end is open.
type bounds struct {
	lo, hi *time.Time
}

func (b bounds) none() bool { return b.lo == nil && b.hi == nil }

func (b bounds) intersect(o bounds) bounds {
	if o.lo != nil && (b.lo == nil || o.lo.After(*b.lo)) {
		b.lo = o.lo
	}
	if o.hi != nil && (b.hi == nil || o.hi.Before(*b.hi)) {
		b.hi = o.hi
	}
	return b
}

// validRange returns the microsecond-aligned bounds of the set of columns
// values for which ok holds, given that the set is an interval with its
// lower end within 2s of lo and its upper end within 2s of hi. It asks cel-go
// itself where the ends are, so the bounds are exactly where CEL starts to
// report overflow, and it fails when the assumption does not hold.
func validRange(ok func(time.Time) bool, lo, hi time.Time) (bounds, bool) {
	const window = 2 * time.Second
	l, found := edge(ok, lo.Add(-window), lo.Add(window), true)
	if !found {
		return bounds{}, false
	}
	h, found := edge(ok, hi.Add(-window), hi.Add(window), false)
	if !found {
		return bounds{}, false
	}
	return bounds{lo: &l, hi: &h}, true
}

// edge finds, between a and b, the first microsecond for which ok holds
// (rising) or the last one for which it holds (falling), when ok changes
// exactly once between them.
func edge(ok func(time.Time) bool, a, b time.Time, rising bool) (time.Time, bool) {
	a, b = ceilMicro(a), floorMicro(b)
	if ok(a) == rising || ok(b) != rising {
		return time.Time{}, false
	}
	// Invariant: ok(a) != rising, ok(b) == rising.
	for b.Sub(a) > time.Microsecond {
		span := b.Sub(a) / time.Microsecond
		m := a.Add(span / 2 * time.Microsecond)
		if ok(m) == rising {
			b = m
		} else {
			a = m
		}
	}
	if rising {
		return b, true
	}
	return a, true
}

// CEL's own overflow checks, used to find the bounds.

func celAddOK(t time.Time, d time.Duration) bool {
	return !types.IsError(types.Timestamp{Time: t}.Add(types.Duration{Duration: d}))
}

func celSubDurOK(t time.Time, d time.Duration) bool {
	return !types.IsError(types.Timestamp{Time: t}.Subtract(types.Duration{Duration: d}))
}

func celSubOK(a, b time.Time) bool {
	return !types.IsError(types.Timestamp{Time: a}.Subtract(types.Timestamp{Time: b}))
}

// The range of a CEL timestamp: 0001-01-01 to 9999-12-31T23:59:59.999999999Z.
var (
	celMinTime = time.Unix(-62135596800, 0).UTC()
	celMaxTime = time.Unix(253402300799, 999999999).UTC()
)

// shiftBounds are the bounds on col for which CEL can compute col+d (col-d
// when sub) without leaving the timestamp range.
func shiftBounds(d time.Duration, sub bool) (bounds, bool) {
	ok := func(t time.Time) bool { return celAddOK(t, d) }
	if sub {
		ok = func(t time.Time) bool { return celSubDurOK(t, d) }
	}
	return validRange(ok, addDur(celMinTime, d, !sub), addDur(celMaxTime, d, !sub))
}

// diffBounds are the bounds on col for which CEL can compute t-col (col-t
// when colFirst) as a duration: within about 292 years of t.
func diffBounds(t time.Time, colFirst bool) (bounds, bool) {
	if colFirst {
		return validRange(func(c time.Time) bool { return celSubOK(c, t) },
			t.Add(math.MinInt64), t.Add(math.MaxInt64))
	}
	return validRange(func(c time.Time) bool { return celSubOK(t, c) },
		t.Add(-math.MaxInt64), t.Add(math.MaxInt64).Add(1))
}
