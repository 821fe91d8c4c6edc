package outbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/smtp"
)

func provider(attrs map[string]cty.Value) *lang.Provider {
	return &lang.Provider{Type: "outbox", Name: "dev", Attributes: attrs}
}

func open(t *testing.T, project string, attrs map[string]cty.Value) *Channel {
	t.Helper()
	if attrs == nil {
		attrs = map[string]cty.Value{"dir": cty.StringVal("outbox")}
	}
	ch, err := Open(context.Background(), providers.ChannelRequest{Dir: project, Provider: provider(attrs)})
	if err != nil {
		t.Fatal(err)
	}
	ch.now = func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	t.Cleanup(func() { ch.Close() })
	return ch
}

func email(key string) *providers.Message {
	return &providers.Message{
		IdempotencyKey: key,
		Campaign:       "campaign.winback_dec",
		Variant:        "a",
		CustomerID:     "c-42",
		Channel:        "email",
		To:             "ada@example.com",
		From:           "news@acme-outdoor.example",
		FromName:       "Acme Outdoor",
		Subject:        "Ada, we miss you",
		HTML:           "<p>Hello Ada &amp; co.</p>",
		Text:           "Hello Ada & co.",
		Headers: map[string]string{
			"List-Unsubscribe":      "<https://herald.acme-outdoor.example/u/abc>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		},
	}
}

func sms(key string) *providers.Message {
	return &providers.Message{
		IdempotencyKey: key,
		Campaign:       "trigger.cart_abandon",
		CustomerID:     "c-7",
		Channel:        "sms",
		To:             "+15415550123",
		From:           "+15415550100",
		Text:           "Your cart is saved. Reply STOP to opt out.",
	}
}

func TestRegistered(t *testing.T) {
	ch, err := providers.OpenChannel(context.Background(), providers.ChannelRequest{
		Dir: t.TempDir(), Provider: provider(map[string]cty.Value{"dir": cty.StringVal("out")}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if _, ok := ch.(*Channel); !ok {
		t.Fatalf("OpenChannel returned a %T", ch)
	}
}

func TestEML(t *testing.T) {
	project := t.TempDir()
	ch := open(t, project, nil)
	m := email("winback_dec-a-c42")
	res := ch.Send(context.Background(), m)
	if res.Outcome != providers.Sent || res.ProviderMessageID != "winback_dec-a-c42.eml" {
		t.Fatalf("Send: %+v", res)
	}
	path := filepath.Join(project, "outbox", "winback_dec-a-c42.eml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := smtp.BuildMessage(m, ch.now())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, want) {
		t.Errorf("the file is not smtp.BuildMessage's rendering")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}

	// A resend of the key replaces the file and leaves nothing else.
	m.Subject = "Second attempt"
	if res := ch.Send(context.Background(), m); res.Outcome != providers.Sent {
		t.Fatalf("resend: %+v", res)
	}
	entries, _ := os.ReadDir(filepath.Join(project, "outbox"))
	if len(entries) != 1 {
		t.Errorf("the dir holds %v", entries)
	}
	raw, _ = os.ReadFile(path)
	if !bytes.Contains(raw, []byte("Subject: Second attempt")) {
		t.Errorf("the resend did not replace the file")
	}
}

func TestEMLBadMessage(t *testing.T) {
	ch := open(t, t.TempDir(), nil)
	m := email("k")
	m.From = ""
	if res := ch.Send(context.Background(), m); res.Outcome != providers.Failed {
		t.Fatalf("a message without From: %+v", res)
	}
	m = email("")
	if res := ch.Send(context.Background(), m); res.Outcome != providers.Failed {
		t.Fatalf("a message without a key: %+v", res)
	}
}

func TestFileName(t *testing.T) {
	for key, want := range map[string]string{
		"abc-123_x.y": "abc-123_x.y",
		"a/b":         "a_b-",
		"../etc":      "_._etc-",
		"ABC":         "ABC-",
		".hidden":     "_hidden-",
		"k:1":         "k_1-",
	} {
		got := FileName(key)
		if strings.HasSuffix(want, "-") {
			if !strings.HasPrefix(got, want) || len(got) != len(want)+12 {
				t.Errorf("FileName(%q) = %q, want %s<hash>", key, got, want)
			}
		} else if got != want {
			t.Errorf("FileName(%q) = %q, want %q", key, got, want)
		}
		if strings.ContainsAny(got, `/\:`) || filepath.Base(got) != got || got[0] == '.' {
			t.Errorf("FileName(%q) = %q is not a plain file name", key, got)
		}
	}
	if FileName("Abc") == FileName("abc") || FileName("a/b") == FileName("a:b") {
		t.Errorf("two keys share a file")
	}
	if long := FileName(strings.Repeat("x", 500)); len(long) > 100 {
		t.Errorf("FileName of a long key has %d characters", len(long))
	}
}

func readJournal(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d: %v: %q", len(out)+1, err, sc.Text())
		}
		out = append(out, rec)
	}
	return out
}

func TestJSONL(t *testing.T) {
	project := t.TempDir()
	attrs := map[string]cty.Value{"dir": cty.StringVal("out"), "format": cty.StringVal("jsonl")}
	ch := open(t, project, attrs)
	hook := &providers.Message{
		IdempotencyKey: "hook-1", Channel: "webhook", CustomerID: "c-9",
		Payload: json.RawMessage(`{"event":"cart","items":[1,2]}`),
	}
	for _, m := range []*providers.Message{email("e-1"), sms("s-1"), hook, email("e-1")} {
		res := ch.Send(context.Background(), m)
		if res.Outcome != providers.Sent || res.ProviderMessageID != "outbox:"+m.IdempotencyKey {
			t.Fatalf("Send %s: %+v", m.IdempotencyKey, res)
		}
	}
	path := filepath.Join(project, "out", JournalName)
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(`"html":"<p>Hello Ada &amp; co.</p>"`)) {
		t.Errorf("html is escaped:\n%s", raw)
	}
	recs := readJournal(t, path)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3 (a resend is not written twice)", len(recs))
	}
	if want := map[string]any{
		"key": "s-1", "campaign": "trigger.cart_abandon", "customer_id": "c-7", "channel": "sms",
		"to": "+15415550123", "from": "+15415550100", "text": "Your cart is saved. Reply STOP to opt out.",
	}; !reflect.DeepEqual(recs[1], want) {
		t.Errorf("sms record\n%v\nwant\n%v", recs[1], want)
	}
	if want := map[string]any{
		"key": "hook-1", "customer_id": "c-9", "channel": "webhook",
		"payload": map[string]any{"event": "cart", "items": []any{1.0, 2.0}},
	}; !reflect.DeepEqual(recs[2], want) {
		t.Errorf("webhook record\n%v\nwant\n%v", recs[2], want)
	}
	e := recs[0]
	if e["subject"] != "Ada, we miss you" || e["headers"].(map[string]any)["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
		t.Errorf("email record %v", e)
	}

	// After a restart the keys in the file are known: a resumed run
	// does not write them again.
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	ch2 := open(t, project, attrs)
	for _, m := range []*providers.Message{email("e-1"), sms("s-1"), sms("s-2")} {
		if res := ch2.Send(context.Background(), m); res.Outcome != providers.Sent {
			t.Fatalf("Send after reopening: %+v", res)
		}
	}
	if recs := readJournal(t, path); len(recs) != 4 || recs[3]["key"] != "s-2" {
		t.Errorf("after reopening: %d records %v", len(recs), recs)
	}
}

// TestDefaultFormat: with no format, e-mail goes to .eml files and SMS to
// the journal.
func TestDefaultFormat(t *testing.T) {
	project := t.TempDir()
	ch := open(t, project, nil)
	if res := ch.Send(context.Background(), sms("s-1")); res.Outcome != providers.Sent || res.ProviderMessageID != "outbox:s-1" {
		t.Fatalf("sms: %+v", res)
	}
	if res := ch.Send(context.Background(), email("e-1")); res.Outcome != providers.Sent || res.ProviderMessageID != "e-1.eml" {
		t.Fatalf("email: %+v", res)
	}
	entries, _ := os.ReadDir(filepath.Join(project, "outbox"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "e-1.eml messages.jsonl" {
		t.Errorf("the dir holds %v", names)
	}
}

func TestTornLine(t *testing.T) {
	project := t.TempDir()
	dir := filepath.Join(project, "outbox")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, JournalName)
	good, _ := encodeRecord(sms("s-1"))
	torn, _ := encodeRecord(sms("s-2"))
	os.WriteFile(path, append(good, torn[:len(torn)/2]...), 0o644)

	ch := open(t, project, map[string]cty.Value{"dir": cty.StringVal("outbox"), "format": cty.StringVal("jsonl")})
	for _, k := range []string{"s-1", "s-2"} {
		if res := ch.Send(context.Background(), sms(k)); res.Outcome != providers.Sent {
			t.Fatalf("Send: %+v", res)
		}
	}
	recs := readJournal(t, path)
	if len(recs) != 2 || recs[0]["key"] != "s-1" || recs[1]["key"] != "s-2" {
		t.Errorf("records %v", recs)
	}
}

func TestCorruptJournal(t *testing.T) {
	project := t.TempDir()
	dir := filepath.Join(project, "outbox")
	os.MkdirAll(dir, 0o755)
	good, _ := encodeRecord(sms("s-1"))
	os.WriteFile(filepath.Join(dir, JournalName), append(good, "\nnot json\n"...), 0o644)
	_, err := Open(context.Background(), providers.ChannelRequest{Dir: project, Provider: provider(map[string]cty.Value{
		"dir": cty.StringVal("outbox"), "format": cty.StringVal("jsonl"),
	})})
	if err == nil || !strings.Contains(err.Error(), "messages.jsonl line 3 is not an outbox record") {
		t.Fatalf("Open: %v", err)
	}
}

// TestConcurrent: many senders, two channels on one directory, resends
// of the same keys: every key is written once, on a line of its own.
func TestConcurrent(t *testing.T) {
	project := t.TempDir()
	attrs := map[string]cty.Value{"dir": cty.StringVal("outbox"), "format": cty.StringVal("jsonl")}
	a, b := open(t, project, attrs), open(t, project, attrs)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := a
			if g%2 == 1 {
				ch = b
			}
			for i := range 200 {
				m := email(fmt.Sprintf("k-%d", (g/2*200+i)%1000))
				m.HTML = strings.Repeat("<p>lorem ipsum</p>", 300) // larger than a pipe buffer
				if res := ch.Send(context.Background(), m); res.Outcome != providers.Sent {
					t.Errorf("Send: %+v", res)
					return
				}
			}
		}()
	}
	wg.Wait()
	a.Close()
	b.Close()
	recs := readJournal(t, filepath.Join(project, "outbox", JournalName))
	seen := map[any]bool{}
	for _, r := range recs {
		if seen[r["key"]] {
			t.Fatalf("key %v written twice", r["key"])
		}
		seen[r["key"]] = true
	}
	if len(recs) != 1000 {
		t.Errorf("%d records, want 1000", len(recs))
	}
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		attrs map[string]cty.Value
		err   string
	}{
		{map[string]cty.Value{}, "no dir"},
		{map[string]cty.Value{"dir": cty.StringVal("o"), "format": cty.StringVal("mbox")}, `format = "mbox"`},
		{map[string]cty.Value{"dir": cty.UnknownVal(cty.String)}, "dir is not set"},
	} {
		_, err := Open(context.Background(), providers.ChannelRequest{Dir: t.TempDir(), Provider: provider(tt.attrs)})
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%v: %v, want %q", tt.attrs, err, tt.err)
		}
	}
	ch := open(t, t.TempDir(), nil)
	bad := sms("s-1")
	bad.Channel = "webhook"
	bad.Payload = json.RawMessage(`{"unterminated"`)
	if res := ch.Send(context.Background(), bad); res.Outcome != providers.Failed {
		t.Errorf("an invalid payload: %+v", res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res := ch.Send(ctx, sms("s-2")); res.Outcome != providers.Retry {
		t.Errorf("a cancelled send: %+v", res)
	}
	ch.Close()
	if res := ch.Send(context.Background(), sms("s-3")); res.Outcome != providers.Retry {
		t.Errorf("a send after Close: %+v", res)
	}
}
