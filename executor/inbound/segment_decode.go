package inbound

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/providers"
)

// rejection is why an event or a request is not accepted: a reason from
// the fixed set and a message for the sender.
type rejection struct {
	reason string
	msg    string
}

// segItem is one message of a request: an event, a rejection, or a message
// of a type herald does not take (identify, page…), ignored.
type segItem struct {
	ev      Event
	rej     *rejection
	ignored bool
}

// segDecoder turns Segment request bodies into events of one source.
type segDecoder struct {
	es       *eventSchema
	maxEvent int // bytes per message of a batch
}

// decode reads the body of a /v1/track (batch false) or /v1/batch request.
// A body that cannot be read at all is a request rejection; otherwise
// every message of it has an item. For track, a bad message is a request
// rejection too. now is the time of receipt, the default timestamp.
func (d *segDecoder) decode(body []byte, batch bool, now time.Time) ([]segItem, *rejection) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, &rejection{ReasonMalformed, "the body is not a JSON object: " + jsonProblem(err)}
	}
	if !batch {
		it := d.message(top, body, now, nil, "", false)
		if it.rej != nil {
			return nil, it.rej
		}
		return []segItem{it}, nil
	}
	raw, ok := top["batch"]
	var msgs []json.RawMessage
	if !ok || json.Unmarshal(raw, &msgs) != nil || msgs == nil {
		return nil, &rejection{ReasonMalformed, `the body has no "batch" list: send {"batch": [{"type": "track", …}, …]}`}
	}
	items := make([]segItem, len(msgs))
	for i, m := range msgs {
		where := fmt.Sprintf("batch[%d]: ", i)
		if d.maxEvent > 0 && len(m) > d.maxEvent {
			items[i].rej = &rejection{ReasonTooLarge, fmt.Sprintf("%sthe event is %d bytes, over the limit of %d", where, len(m), d.maxEvent)}
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(m, &fields); err != nil || fields == nil {
			items[i].rej = &rejection{ReasonMalformed, where + "is not a JSON object"}
			continue
		}
		items[i] = d.message(fields, m, now, top["sentAt"], where, true)
	}
	return items, nil
}

// jsonProblem says briefly what is wrong with a body that is not JSON.
func jsonProblem(err error) string {
	switch e := err.(type) {
	case nil:
		return "it is null"
	case *json.SyntaxError:
		return fmt.Sprintf("invalid JSON at byte %d", e.Offset)
	case *json.UnmarshalTypeError:
		return "it is a JSON " + e.Value
	}
	return "invalid JSON"
}

// message reads one Segment message. inBatch says type is required (a
// batch mixes message types); batchSentAt is the batch's sentAt, used
// when the message has none.
func (d *segDecoder) message(f map[string]json.RawMessage, raw []byte, now time.Time, batchSentAt json.RawMessage, where string, inBatch bool) segItem {
	invalid := func(format string, args ...any) segItem {
		return segItem{rej: &rejection{ReasonInvalid, where + fmt.Sprintf(format, args...)}}
	}
	typ, has, ok := jsonString(f["type"])
	switch {
	case !ok:
		return invalid(`"type" is not a string`)
	case !has && inBatch:
		return invalid(`"type" is missing: each message of a batch says its type, "track" for an event`)
	case has && typ != "track":
		if inBatch {
			return segItem{ignored: true}
		}
		return invalid(`"type" is %q: /v1/track takes track events`, typ)
	}

	es := d.es
	vals := make([]any, len(es.lay.Names))
	if p, ok := f["properties"]; ok && !isNull(p) {
		props, err := decodeObject(p)
		if err != nil {
			return invalid(`"properties" %v`, err)
		}
		// The customer, type and time come from userId, event and
		// timestamp: a property of the same name must not override them.
		for _, i := range []int{es.cust, es.typ, es.tim} {
			delete(props, es.lay.Names[i])
		}
		if fe := typeFields(es.lay, props, vals, "properties."); fe != nil {
			return invalid("%s", fe.Error())
		}
	}

	uid, ok := jsonScalar(f["userId"])
	if !ok || uid == nil || uid == "" {
		if _, anon := f["anonymousId"]; anon && uid == nil {
			return invalid(`"userId" is missing: herald matches events to customers by userId and does not take anonymous events`)
		}
		return invalid(`"userId" is missing or not a string: it names the customer`)
	}
	if !set(vals, es.cust, es.lay, uid) {
		return invalid(`"userId" is not of type %s, the type of field %q`, es.lay.Types[es.cust], es.lay.Names[es.cust])
	}

	name, has, ok := jsonString(f["event"])
	if !ok || !has || name == "" {
		return invalid(`"event" is missing or not a string: it is the event's name, such as "page_view"`)
	}
	if !set(vals, es.typ, es.lay, name) {
		return invalid(`"event" is not of type %s, the type of field %q`, es.lay.Types[es.typ], es.lay.Names[es.typ])
	}

	at, rej := timestamp(f, batchSentAt, now)
	if rej != "" {
		return invalid("%s", rej)
	}
	if es.lay.Types[es.tim] != nil && es.lay.Types[es.tim].Kind == "timestamp" {
		vals[es.tim] = at
	} else {
		vals[es.tim] = at.Format(time.RFC3339Nano)
	}

	if mid, ok := jsonScalar(f["messageId"]); !ok {
		return invalid(`"messageId" is not a string`)
	} else if mid != nil && mid != "" && es.id >= 0 && !set(vals, es.id, es.lay, mid) {
		return invalid(`"messageId" is not of type %s, the type of field %q`, es.lay.Types[es.id], es.lay.Names[es.id])
	}

	ev, fe := es.event(&providers.Record{Layout: es.lay, Values: vals}, es.fieldName)
	if fe != nil {
		return invalid("%s", fe.Error())
	}
	if ev.ID == "" {
		if mid, _ := jsonScalar(f["messageId"]); mid != nil && mid != "" {
			ev.ID, _ = text(mid)
		} else {
			ev.ID = derivedID(es.addr, raw)
		}
	}
	return segItem{ev: ev}
}

// set types v as field i; false when it does not have the field's type or
// is empty.
func set(vals []any, i int, lay *providers.Layout, v any) bool {
	x, err := providers.ConvertValue(lay.Types[i], v)
	if err != nil || x == nil {
		return false
	}
	vals[i] = x
	return true
}

// timestamp is the event's time: timestamp; else, as Segment does, the
// time of receipt corrected by the sender's clock skew (sentAt minus
// originalTimestamp); else the time of receipt.
func timestamp(f map[string]json.RawMessage, batchSentAt json.RawMessage, now time.Time) (time.Time, string) {
	ts, has, ok := jsonString(f["timestamp"])
	if !ok || (has && ts == "") {
		return time.Time{}, `"timestamp" is not an ISO-8601 time such as "2026-12-01T09:00:00.000Z"`
	}
	if has {
		t, err := providers.ParseTimestamp(ts)
		if err != nil {
			return time.Time{}, `"timestamp" is not an ISO-8601 time such as "2026-12-01T09:00:00.000Z"`
		}
		return t, ""
	}
	orig, okO := isoTime(f["originalTimestamp"])
	sent, okS := isoTime(f["sentAt"])
	if !okS {
		sent, okS = isoTime(batchSentAt)
	}
	if okO && okS {
		return now.Add(-sent.Sub(orig)).UTC(), ""
	}
	return now.UTC(), ""
}

func isoTime(raw json.RawMessage) (time.Time, bool) {
	s, has, ok := jsonString(raw)
	if !ok || !has {
		return time.Time{}, false
	}
	t, err := providers.ParseTimestamp(s)
	return t, err == nil
}

// jsonString reads an optional string member: has is false when it is
// absent or null, ok is false when it is something else than a string.
func jsonString(raw json.RawMessage) (s string, has, ok bool) {
	if raw == nil || isNull(raw) {
		return "", false, true
	}
	if json.Unmarshal(raw, &s) != nil {
		return "", false, false
	}
	return s, true, true
}

// jsonScalar reads an optional id-like member, a string or a number: nil
// when absent or null, ok false when it is something else.
func jsonScalar(raw json.RawMessage) (any, bool) {
	if raw == nil || isNull(raw) {
		return nil, true
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	switch v.(type) {
	case string, json.Number:
		return v, true
	}
	return nil, false
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// derivedID identifies a message without a messageId by its content, so
// that a sender retrying the same request gets the same ID and the trigger
// engine dedupes it.
func derivedID(source string, raw []byte) string {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write(raw)
	return "seg-" + hex.EncodeToString(h.Sum(nil)[:16])
}
