package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/providers"
)

// reflectEncode is how records were written before encodeRecord appended
// them by hand: the journal's format is what this writes.
func reflectEncode(t *testing.T, m *providers.Message) []byte {
	t.Helper()
	r := record{
		Key: m.IdempotencyKey, Campaign: m.Campaign, Variant: m.Variant, CustomerID: m.CustomerID,
		Channel: m.Channel, To: m.To, From: m.From, FromName: m.FromName, ReplyTo: m.ReplyTo,
		Subject: m.Subject, HTML: m.HTML, Text: m.Text, Payload: m.Payload, Headers: m.Headers,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestEncodeRecord: encodeRecord writes the bytes encoding/json writes,
// for awkward strings and for random ones.
func TestEncodeRecord(t *testing.T) {
	odd := []string{
		"", "plain", `quote " and \ backslash`, "<p>a & b</p>", "tab\tnew\nline\r\b\f\x00\x1f\x7f",
		"é ü 日本 🎉", "bad \xff utf-8 \xc3", "line\u2028para\u2029sep", "\xed\xa0\x80 surrogate",
	}
	msgs := []*providers.Message{email("e-1"), sms("s-1"),
		{IdempotencyKey: "hook", Channel: "webhook", Payload: json.RawMessage(" {\"a\" : [1, 2,\n 3], \"h\": \"<&>\"} ")}}
	for _, s := range odd {
		m := email(s + "-key")
		m.Subject, m.HTML, m.Text, m.ReplyTo = s, s+"<b>", s, s
		m.Headers = map[string]string{"X-" + s: s, "A": s}
		msgs = append(msgs, m)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		m := sms(string(b))
		m.Text = string(b)
		msgs = append(msgs, m)
	}
	for _, m := range msgs {
		got, err := encodeRecord(m)
		if err != nil {
			t.Fatalf("encodeRecord(%q): %v", m.IdempotencyKey, err)
		}
		if want := reflectEncode(t, m); !bytes.Equal(got, want) {
			t.Errorf("encodeRecord(%q)\n got %s\nwant %s", m.IdempotencyKey, got, want)
		}
	}
	if _, err := encodeRecord(&providers.Message{IdempotencyKey: "k", Payload: json.RawMessage("{nope")}); err == nil {
		t.Error("a payload that is not JSON: no error")
	}
}

// TestSendBuffered: a buffered record reaches the file on Flush, or with
// the next unbuffered Send, once; a failed write of records already
// answered Sent makes Flush fail from then on.
func TestSendBuffered(t *testing.T) {
	project := t.TempDir()
	attrs := map[string]cty.Value{"dir": cty.StringVal("outbox"), "format": cty.StringVal("jsonl")}
	ch := open(t, project, attrs)
	path := filepath.Join(project, "outbox", JournalName)
	ctx := context.Background()
	for _, k := range []string{"b-1", "b-2", "b-1"} {
		if res := ch.SendBuffered(ctx, sms(k)); res.Outcome != providers.Sent || res.ProviderMessageID != "outbox:"+k {
			t.Fatalf("SendBuffered %s: %+v", k, res)
		}
	}
	if recs := readJournal(t, path); len(recs) != 0 {
		t.Fatalf("before Flush the file holds %v", recs)
	}
	if err := ch.Flush(); err != nil {
		t.Fatal(err)
	}
	if recs := readJournal(t, path); len(recs) != 2 || recs[0]["key"] != "b-1" || recs[1]["key"] != "b-2" {
		t.Fatalf("after Flush: %v", recs)
	}
	ch.SendBuffered(ctx, sms("b-3"))
	if res := ch.Send(ctx, sms("b-2")); res.Outcome != providers.Sent {
		t.Fatalf("Send: %+v", res)
	}
	if recs := readJournal(t, path); len(recs) != 3 || recs[2]["key"] != "b-3" {
		t.Fatalf("an unbuffered Send did not write what was held: %v", recs)
	}

	// The disk fails while a record answered Sent is held.
	ch.SendBuffered(ctx, sms("b-4"))
	ch.journal.f.Close()
	if err := ch.Flush(); err == nil {
		t.Fatal("Flush after a failed write: no error")
	}
	if err := ch.Flush(); err == nil || !strings.Contains(err.Error(), "lost") {
		t.Fatalf("a second Flush: %v, want the journal broken", err)
	}
	if res := ch.SendBuffered(ctx, sms("b-5")); res.Outcome != providers.Retry {
		t.Fatalf("SendBuffered on a broken journal: %+v", res)
	}
}
