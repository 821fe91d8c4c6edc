package eval

import (
	"math"
	"time"
)

// Overflow-checked arithmetic with cel-go's semantics
// (cel.dev/cel-go/common/types/overflow.go): false is a CEL error.

func addInt64Checked(x, y int64) (int64, bool) {
	if (y > 0 && x > math.MaxInt64-y) || (y < 0 && x < math.MinInt64-y) {
		return 0, false
	}
	return x + y, true
}

func subtractInt64Checked(x, y int64) (int64, bool) {
	if (y < 0 && x > math.MaxInt64+y) || (y > 0 && x < math.MinInt64+y) {
		return 0, false
	}
	return x - y, true
}

func negateInt64Checked(x int64) (int64, bool) {
	if x == math.MinInt64 {
		return 0, false
	}
	return -x, true
}

func multiplyInt64Checked(x, y int64) (int64, bool) {
	if (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64) ||
		(x > 0 && y > 0 && x > math.MaxInt64/y) ||
		(x > 0 && y < 0 && y < math.MinInt64/x) ||
		(x < 0 && y > 0 && x < math.MinInt64/y) ||
		(x < 0 && y < 0 && y < math.MaxInt64/x) {
		return 0, false
	}
	return x * y, true
}

func divideInt64Checked(x, y int64) (int64, bool) {
	if y == 0 || (x == math.MinInt64 && y == -1) {
		return 0, false
	}
	return x / y, true
}

func moduloInt64Checked(x, y int64) (int64, bool) {
	if y == 0 || (x == math.MinInt64 && y == -1) {
		return 0, false
	}
	return x % y, true
}

func doubleToInt64Checked(v float64) (int64, bool) {
	if math.IsInf(v, 0) || math.IsNaN(v) || v <= float64(math.MinInt64) || v >= float64(math.MaxInt64) {
		return 0, false
	}
	return int64(v), true
}

// The range of CEL timestamps, in Unix seconds: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z.
const (
	minUnixTime int64 = -62135596800
	maxUnixTime int64 = 253402300799
)

// subtractTimeChecked is x - y for x given as Unix seconds and nanoseconds;
// false when the duration overflows. cel-go splits times with
// Truncate(time.Second), which for a time.Time is the same as Unix() and
// Nanosecond().
func subtractTimeChecked(xs, xn int64, y time.Time) (time.Duration, bool) {
	sec, ok := subtractInt64Checked(xs, y.Unix())
	if !ok {
		return 0, false
	}
	tsec, ok := multiplyInt64Checked(sec, int64(time.Second))
	if !ok {
		return 0, false
	}
	val, ok := addInt64Checked(tsec, xn-int64(y.Nanosecond()))
	if !ok {
		return 0, false
	}
	return time.Duration(val), true
}

// addTimeDurationChecked is x + y; false when the result leaves CEL's
// timestamp range.
func addTimeDurationChecked(x time.Time, y time.Duration) (time.Time, bool) {
	sec1, nsec1 := x.Unix(), int64(x.Nanosecond())
	sec2, nsec2 := int64(y)/int64(time.Second), int64(y)%int64(time.Second)
	sec, ok := addInt64Checked(sec1, sec2)
	if !ok {
		return time.Time{}, false
	}
	nsec := nsec1 + nsec2
	if nsec < 0 || nsec >= int64(time.Second) {
		if sec, ok = addInt64Checked(sec, nsec/int64(time.Second)); !ok {
			return time.Time{}, false
		}
		nsec -= (nsec / int64(time.Second)) * int64(time.Second)
		if nsec < 0 {
			if sec, ok = addInt64Checked(sec, -1); !ok {
				return time.Time{}, false
			}
			nsec += int64(time.Second)
		}
	}
	if sec < minUnixTime || sec > maxUnixTime {
		return time.Time{}, false
	}
	return time.Unix(sec, nsec).In(x.Location()), true
}

func subtractTimeDurationChecked(x time.Time, y time.Duration) (time.Time, bool) {
	ny, ok := negateInt64Checked(int64(y))
	if !ok {
		return time.Time{}, false
	}
	return addTimeDurationChecked(x, time.Duration(ny))
}
