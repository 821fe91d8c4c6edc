package inbound

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

// Event is one event of an event source, typed by the source's schema.
type Event struct {
	// Source is the source's address, "source.events".
	Source string
	// ID identifies the event for deduplication: the value of the
	// schema's id field when it is set, else one derived from where the
	// event came from (see docs/events.md). Reading the same event again
	// gives the same ID.
	ID string
	// Type, CustomerID and Time are the values of the source's type,
	// customer and time fields.
	Type       string
	CustomerID string
	Time       time.Time
	// Record holds every field of the schema, typed; fields the event did
	// not have are nil.
	Record *providers.Record
}

// Sink is the runner's consumer of events. It either accepts the whole
// batch or returns an error; an error means "not accepted": the HTTP
// endpoint answers 503 so that the sender retries, and a tailer or poller
// keeps its offset and reads the same events again later. A Sink may keep
// evs and their Records.
type Sink func(ctx context.Context, evs []Event) error

// Reasons an event or a request is rejected, passed to OnReject so that
// the runner can count them; the set is small and fixed so that it can be
// a metric label.
const (
	ReasonMalformed       = "malformed"        // not JSON, or not the expected shape
	ReasonInvalid         = "invalid"          // a field missing or of the wrong type
	ReasonUnknownCustomer = "unknown_customer" // Known said no
	ReasonTooLarge        = "too_large"        // over a size limit
	ReasonUnauthorized    = "unauthorized"     // no write key, or a wrong one
	ReasonBadRequest      = "bad_request"      // wrong method, path or source
	ReasonUnavailable     = "unavailable"      // the Sink or Known failed: retry later
)

// CheckSource says whether events can be read from src: it must have a
// schema with its customer, time and type fields. The runner may call it at
// start, to refuse a configuration rather than every event.
func CheckSource(src *lang.Source) error {
	_, err := newEventSchema(src)
	return err
}

// eventSchema is where the fields herald reads itself are in a source's
// records.
type eventSchema struct {
	addr string // "source.NAME"
	lay  *providers.Layout
	// Layout indexes of the customer, time, type and id fields; id is -1
	// when the schema has none.
	cust, tim, typ, id int
}

func newEventSchema(src *lang.Source) (*eventSchema, error) {
	if src == nil {
		return nil, errors.New("no source")
	}
	addr := "source." + src.Name
	if src.Schema == nil {
		return nil, fmt.Errorf("%s has no schema: events are typed by one; set schema = schema.NAME", addr)
	}
	s := &eventSchema{addr: addr, lay: providers.NewLayout(src.Schema), id: -1}
	f := eventFields(src)
	for _, x := range []struct {
		attr, name string
		dst        *int
	}{{"customer_field", f.Customer, &s.cust}, {"time_field", f.Time, &s.tim}, {"type_field", f.Type, &s.typ}} {
		if *x.dst = s.lay.Index(x.name); *x.dst < 0 {
			return nil, fmt.Errorf("%s: schema.%s has no field %q: add it, or name the field with %s", addr, src.Schema.Name, x.name, x.attr)
		}
	}
	s.id = s.lay.Index(idField(src))
	return s, nil
}

// eventFields are the source's event fields, with the documented defaults
// for a Source not built by lang (which sets them itself).
func eventFields(src *lang.Source) lang.EventFields {
	f := src.Fields
	if f.Customer == "" {
		f.Customer = "customer_id"
	}
	if f.Time == "" {
		f.Time = "at"
	}
	if f.Type == "" {
		f.Type = "type"
	}
	return f
}

// idField names the field that identifies an event: the source's key,
// else "id".
func idField(src *lang.Source) string {
	if src.Key != "" {
		return src.Key
	}
	return "id"
}

// fieldError is a field that is missing or of the wrong type. Err may
// quote the value, so it goes back to whoever sent the event but never
// into a log: logSafe leaves it out.
type fieldError struct {
	Field string
	Err   error
}

func (e *fieldError) Error() string { return fmt.Sprintf("%s %v", e.Field, e.Err) }

// logSafe says what is wrong without the value.
func (e *fieldError) logSafe() string {
	return "field " + strconv.Quote(e.Field) + " is missing or of the wrong type"
}

var errMissing = errors.New("is missing")

// event makes an Event of a typed record. ID is the id field's value, or
// "" for the caller to derive one.
func (s *eventSchema) event(rec *providers.Record, names func(i int) string) (Event, *fieldError) {
	ev := Event{Source: s.addr, Record: rec}
	var ok bool
	if ev.CustomerID, ok = text(rec.Values[s.cust]); !ok {
		return ev, &fieldError{names(s.cust), errMissing}
	}
	if ev.Type, ok = text(rec.Values[s.typ]); !ok {
		return ev, &fieldError{names(s.typ), errMissing}
	}
	switch t := rec.Values[s.tim].(type) {
	case nil:
		return ev, &fieldError{names(s.tim), errMissing}
	case time.Time:
		ev.Time = t
	case string:
		// A time field declared as a string still has to be a time.
		ts, err := providers.ParseTimestamp(t)
		if err != nil {
			return ev, &fieldError{names(s.tim), errors.New("is not a timestamp (RFC 3339 such as 2026-12-01T09:00:00Z)")}
		}
		ev.Time = ts
	default:
		return ev, &fieldError{names(s.tim), errors.New("is not a timestamp")}
	}
	if ev.Time.IsZero() {
		// Go's "no time": whoever reads the event could not tell it from
		// an unset one.
		return ev, &fieldError{names(s.tim), errors.New("is 0001-01-01T00:00:00Z, which is no time")}
	}
	if s.id >= 0 {
		ev.ID, _ = text(rec.Values[s.id])
	}
	return ev, nil
}

// fieldName is the name of a layout field as the input calls it.
func (s *eventSchema) fieldName(i int) string { return s.lay.Names[i] }

// text renders an id-like value (a string or an int) as a string; ok is
// false when it is unset or empty.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, x != ""
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), true
	case time.Duration:
		return x.String(), true
	}
	return fmt.Sprint(v), true
}
