package state

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// This file holds what both backends do the same way before a row reaches
// SQL: defaults, checks, and the scrubbing that keeps personal data out.

// validStatus is the closed set of ledger statuses.
var validStatus = map[string]bool{
	SendPlanned: true, SendPending: true, SendSent: true,
	SendFailed: true, SendSkipped: true, SendDeferred: true,
}

// prepSends checks ledger rows for RecordSends and fills in their times,
// returning copies.
func prepSends(sends []Send, now func() time.Time) ([]Send, error) {
	out := make([]Send, len(sends))
	t := now()
	for i, s := range sends {
		if s.Key == "" {
			return nil, fmt.Errorf("recording sends: row %d has no key", i)
		}
		if s.Campaign == "" || s.CustomerID == "" || s.Channel == "" {
			return nil, fmt.Errorf("recording send %q: campaign, customer id and channel are required", s.Key)
		}
		if !validStatus[s.Status] {
			return nil, fmt.Errorf("recording send %q: unknown status %q", s.Key, s.Status)
		}
		s.Error = scrub(s.Error)
		s.DueAt = utc(s.DueAt)
		s.CreatedAt = orNow(s.CreatedAt, t)
		s.UpdatedAt = orNow(s.UpdatedAt, t)
		out[i] = s
	}
	return out, nil
}

// prepUpdates checks ledger rows for UpdateSends, keeping the last update
// of each key.
func prepUpdates(sends []Send, now func() time.Time) ([]Send, error) {
	t := now()
	last := make(map[string]int, len(sends))
	out := make([]Send, 0, len(sends))
	for _, s := range sends {
		if s.Key == "" {
			return nil, fmt.Errorf("updating sends: a row has no key")
		}
		if !validStatus[s.Status] {
			return nil, fmt.Errorf("updating send %q: unknown status %q", s.Key, s.Status)
		}
		s.Error = scrub(s.Error)
		s.UpdatedAt = orNow(s.UpdatedAt, t)
		if i, ok := last[s.Key]; ok {
			out[i] = s
			continue
		}
		last[s.Key] = len(out)
		out = append(out, s)
	}
	return out, nil
}

// prepObjects checks objects for WriteObjects, keeping the last of each
// address and filling in Kind from the address when empty.
func prepObjects(objs []Object, now func() time.Time) ([]Object, [][]byte, error) {
	t := now()
	last := make(map[string]int, len(objs))
	out := make([]Object, 0, len(objs))
	for _, o := range objs {
		if o.Address == "" {
			return nil, nil, fmt.Errorf("writing objects: an object has no address")
		}
		if o.Kind == "" {
			o.Kind, _, _ = strings.Cut(o.Address, ".")
		}
		o.UpdatedAt = orNow(o.UpdatedAt, t)
		if i, ok := last[o.Address]; ok {
			out[i] = o
			continue
		}
		last[o.Address] = len(out)
		out = append(out, o)
	}
	attrs := make([][]byte, len(out))
	for i, o := range out {
		a := o.Attrs
		if a == nil {
			a = map[string]string{}
		}
		b, err := json.Marshal(a) // sorted keys
		if err != nil {
			return nil, nil, fmt.Errorf("writing object %s: %w", o.Address, err)
		}
		attrs[i] = b
	}
	return out, attrs, nil
}

// decodeAttrs reads an object's attributes as stored.
func decodeAttrs(address string, b []byte) (map[string]string, error) {
	attrs := map[string]string{}
	if len(b) == 0 {
		return attrs, nil
	}
	if err := json.Unmarshal(b, &attrs); err != nil {
		return nil, fmt.Errorf("reading object %s: attributes: %w", address, err)
	}
	return attrs, nil
}

// prepSuppressions checks suppressions and fills in their times.
func prepSuppressions(ss []Suppression, now func() time.Time) ([]Suppression, error) {
	t := now()
	out := make([]Suppression, len(ss))
	for i, s := range ss {
		if s.CustomerID == "" {
			return nil, fmt.Errorf("adding suppressions: row %d has no customer id", i)
		}
		if s.Reason == "" {
			return nil, fmt.Errorf("adding suppression of %s: no reason", s.CustomerID)
		}
		s.CreatedAt = orNow(s.CreatedAt, t)
		out[i] = s
	}
	return out, nil
}

// sortedUnique returns ids sorted, without duplicates or empty strings.
func sortedUnique(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	j := 0
	for i, id := range out {
		if i == 0 || id != out[j-1] {
			out[j] = id
			j++
		}
	}
	return out[:j]
}

// Provider error messages sometimes quote the recipient ("550 5.1.1
// <ann@example.com>: user unknown"). The ledger keeps customer ids only,
// so addresses and phone numbers are replaced before an error is stored.
var (
	emailRe = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
	phoneRe = regexp.MustCompile(`\+\d[\d \-().]{6,18}\d|\b\d{10,15}\b`)
)

// scrub removes e-mail addresses and phone numbers from s.
func scrub(s string) string {
	if s == "" {
		return s
	}
	s = emailRe.ReplaceAllString(s, "[email]")
	return phoneRe.ReplaceAllString(s, "[phone]")
}
