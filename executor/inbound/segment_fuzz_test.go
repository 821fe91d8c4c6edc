package inbound

import (
	"testing"
	"time"
)

// FuzzSegment feeds the body decoder anything: it must never panic, and
// whatever it accepts must be a whole event of the schema.
func FuzzSegment(f *testing.F) {
	for _, s := range []string{
		`{"userId":"c1","event":"page_view","messageId":"m","timestamp":"2026-11-26T10:00:00Z","properties":{"qty":3,"tags":["a"]}}`,
		`{"batch":[{"type":"track","userId":1,"event":"e"},{"type":"identify"},7,null],"sentAt":"2026-11-26T10:00:00Z"}`,
		`{"userId":"c1","event":"e","originalTimestamp":"2026-11-26T10:00:00Z","sentAt":"2026-11-26T10:00:01Z"}`,
		`{"batch":{}}`, `[]`, `null`, `{"userId":{}}`, `{"properties":{"at":"x","amount":"1e400"}}`,
	} {
		f.Add([]byte(s))
	}
	es, err := newEventSchema(loadSources(f, "")["events"])
	if err != nil {
		f.Fatal(err)
	}
	d := segDecoder{es: es, maxEvent: 512}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, batch := range []bool{false, true} {
			items, rej := d.decode(body, batch, now)
			if rej != nil {
				if rej.reason == "" || rej.msg == "" || len(items) != 0 {
					t.Fatalf("rejection %+v with %d items", rej, len(items))
				}
				continue
			}
			if !batch && len(items) != 1 {
				t.Fatalf("track gave %d items", len(items))
			}
			for _, it := range items {
				switch {
				case it.ignored:
				case it.rej != nil:
					if it.rej.reason == "" || it.rej.msg == "" {
						t.Fatalf("empty rejection %+v", it.rej)
					}
				default:
					checkEvent(t, it.ev)
				}
			}
		}
	})
}

// checkEvent checks what every accepted event has.
func checkEvent(t *testing.T, ev Event) {
	t.Helper()
	if ev.ID == "" || ev.CustomerID == "" || ev.Type == "" || ev.Time.IsZero() || ev.Source == "" {
		t.Fatalf("incomplete event %+v", ev)
	}
	r := ev.Record
	if r == nil || len(r.Values) != len(r.Layout.Names) {
		t.Fatalf("record %+v", r)
	}
	for i, v := range r.Values {
		if v == nil {
			continue
		}
		ok := false
		switch r.Layout.Types[i].Kind {
		case "string":
			_, ok = v.(string)
		case "int":
			_, ok = v.(int64)
		case "double":
			_, ok = v.(float64)
		case "bool":
			_, ok = v.(bool)
		case "timestamp":
			_, ok = v.(time.Time)
		case "duration":
			_, ok = v.(time.Duration)
		case "list":
			_, ok = v.([]any)
		case "map":
			_, ok = v.(map[string]any)
		}
		if !ok {
			t.Fatalf("field %s: %#v is not a %s", r.Layout.Names[i], v, r.Layout.Types[i])
		}
	}
}
