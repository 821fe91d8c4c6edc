package lang

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones are checked the same on every machine

	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang/diag"
)

// ParseDuration reads a herald duration: Go's units (h, m, s, ms) plus d
// (24h) and w (7d), e.g. "90d", "2160h", "1h30m".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if strings.ContainsAny(s, " \t") {
		return 0, fmt.Errorf("%q is not a duration: write it without spaces", s)
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		j := i
		for j < len(rest) && (rest[j] >= 'a' && rest[j] <= 'z' || rest[j] == 'µ') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		var mult time.Duration
		switch unit {
		case "w":
			mult = 7 * 24 * time.Hour
		case "d":
			mult = 24 * time.Hour
		case "h":
			mult = time.Hour
		case "m":
			mult = time.Minute
		case "s":
			mult = time.Second
		case "ms":
			mult = time.Millisecond
		case "":
			return 0, fmt.Errorf("%q is not a duration: %s has no unit", s, num)
		default:
			return 0, fmt.Errorf("%q is not a duration: unknown unit %q", s, unit)
		}
		f, err := strconv.ParseFloat(num, 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q: %w", s, errDurationTooLong)
		}
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		// Converting a float64 beyond the range of int64 gives an
		// unspecified value (on amd64 the most negative one), so check
		// first, and check the sum too.
		x := f * float64(mult)
		if x >= float64(math.MaxInt64) || time.Duration(x) > math.MaxInt64-total {
			return 0, fmt.Errorf("%q: %w", s, errDurationTooLong)
		}
		total += time.Duration(x)
	}
	return total, nil
}

// errDurationTooLong is the error of ParseDuration for a duration that
// does not fit a time.Duration.
var errDurationTooLong = errors.New("the duration is too long: the longest herald can use is 15250w (about 292 years)")

// duration evaluates a duration attribute, which must be positive.
func (l *loader) duration(a *hcl.Attribute) (time.Duration, bool) {
	s, ok := l.str(a)
	if !ok {
		return 0, false
	}
	d, err := ParseDuration(s)
	if err == nil && d <= 0 {
		err = fmt.Errorf("%q is not longer than zero", s)
	}
	if errors.Is(err, errDurationTooLong) {
		rng := a.Expr.Range()
		l.diags = append(l.diags, diag.Error(diag.InvalidDuration, &rng,
			fmt.Sprintf("Duration for %s is too long", a.Name),
			fmt.Sprintf("%v. Use a shorter duration, in days or weeks, such as \"90d\" or \"52w\".", err)))
		return 0, false
	}
	if err != nil {
		rng := a.Expr.Range()
		l.diags = append(l.diags, diag.Error(diag.InvalidDuration, &rng,
			fmt.Sprintf("Invalid duration for %s", a.Name),
			fmt.Sprintf("%v. Write a number and a unit: \"90m\", \"24h\", \"7d\", \"2w\", or a combination such as \"1h30m\".", err)))
		return 0, false
	}
	return d, true
}

// timestampLayouts are the accepted forms of a schedule time. The layouts
// without an offset are wall-clock times, read in a zone.
var timestampLayouts = []string{
	"2006-01-02T15:04",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02 15:04:05",
}

// ParseWallClock reads a schedule time: a wall-clock time without offset
// ("2026-12-01T09:00"), or an RFC 3339 instant. offset reports the latter.
func ParseWallClock(s string) (t time.Time, offset bool, err error) {
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, false, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true, nil
	}
	return time.Time{}, false, fmt.Errorf("%q is not a date and time", s)
}

// location checks an IANA time zone name.
func (l *loader) location(a *hcl.Attribute, name string) (*time.Location, bool) {
	if name != "" && name != "Local" {
		if loc, err := time.LoadLocation(name); err == nil {
			return loc, true
		}
	}
	rng := a.Expr.Range()
	l.diags = append(l.diags, diag.Error(diag.InvalidTimezone, &rng,
		fmt.Sprintf("Unknown time zone %q", name),
		fmt.Sprintf("Use \"recipient\" to send at each recipient's local time, or an IANA zone name such as \"America/New_York\", \"Europe/Berlin\" or \"UTC\".%s", diag.DidYouMean(name, commonZones))))
	return nil, false
}

// commonZones are suggested for misspelt zone names.
var commonZones = []string{
	"UTC", "recipient", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
	"America/Toronto", "America/Vancouver", "America/Sao_Paulo", "Europe/London", "Europe/Berlin",
	"Europe/Paris", "Europe/Madrid", "Europe/Rome", "Europe/Amsterdam", "Asia/Tokyo", "Asia/Singapore",
	"Asia/Kolkata", "Australia/Sydney", "Pacific/Auckland",
}

// ParseQuietHours reads "21:00-08:00"; spaces around the times, as in
// "21:00 - 08:00", are allowed.
func ParseQuietHours(s string) (*QuietHours, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return nil, fmt.Errorf("%q is not a range of two times", s)
	}
	start, err := parseClock(strings.TrimSpace(from))
	if err != nil {
		return nil, err
	}
	end, err := parseClock(strings.TrimSpace(to))
	if err != nil {
		return nil, err
	}
	if start == end {
		return nil, fmt.Errorf("%q starts and ends at the same time", s)
	}
	return &QuietHours{Start: start, End: end, Source: s}, nil
}

func parseClock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 || !allDigits(h) || !allDigits(m) {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM)", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM, 00:00 to 23:59)", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// allDigits reports whether s is ASCII digits only: strconv.Atoi would
// also take a sign, as in "+8:00".
func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Contains reports whether the time of day t (since midnight) is quiet.
func (q *QuietHours) Contains(t time.Duration) bool {
	if q.Start < q.End {
		return t >= q.Start && t < q.End
	}
	return t >= q.Start || t < q.End
}
