package smtp

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/providers"
)

var date = time.Date(2026, 12, 1, 9, 0, 0, 0, time.FixedZone("PST", -8*3600))

func TestBuildMessageExact(t *testing.T) {
	m := &providers.Message{
		IdempotencyKey: "k-1",
		To:             "ada@example.com",
		From:           "news@acme-outdoor.example",
		FromName:       "Acme Outdoor",
		Subject:        "Hello",
		Text:           "Hi.\n",
		HTML:           "<p>Hi.</p>\n",
		Headers: map[string]string{
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"List-Unsubscribe":      "<https://h.example/u/x>",
		},
	}
	got, err := BuildMessage(m, date)
	if err != nil {
		t.Fatal(err)
	}
	b := "herald=_" + keyHash("k-1")[:24]
	want := strings.Join([]string{
		`From: "Acme Outdoor" <news@acme-outdoor.example>`,
		`To: <ada@example.com>`,
		`Subject: Hello`,
		`Date: Tue, 01 Dec 2026 09:00:00 -0800`,
		`Message-ID: <k-1@acme-outdoor.example>`,
		`MIME-Version: 1.0`,
		`List-Unsubscribe: <https://h.example/u/x>`,
		`List-Unsubscribe-Post: List-Unsubscribe=One-Click`,
		`Content-Type: multipart/alternative;`,
		` boundary="` + b + `"`,
		``,
		`--` + b,
		`Content-Type: text/plain; charset=utf-8`,
		`Content-Transfer-Encoding: quoted-printable`,
		``,
		`Hi.`,
		``,
		`--` + b,
		`Content-Type: text/html; charset=utf-8`,
		`Content-Transfer-Encoding: quoted-printable`,
		``,
		`<p>Hi.</p>`,
		``,
		`--` + b + `--`,
		``,
	}, "\r\n")
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	again, _ := BuildMessage(m, date)
	if !bytes.Equal(got, again) {
		t.Errorf("BuildMessage is not deterministic")
	}
}

func TestBuildMessageSinglePart(t *testing.T) {
	for _, m := range []*providers.Message{
		{IdempotencyKey: "k", To: "a@example.com", From: "b@example.com", HTML: "<p>only html</p>"},
		{IdempotencyKey: "k", To: "a@example.com", From: "b@example.com", Text: "only text"},
	} {
		raw, err := BuildMessage(m, date)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		want := "text/plain; charset=utf-8"
		if m.HTML != "" {
			want = "text/html; charset=utf-8"
		}
		if got := msg.Header.Get("Content-Type"); got != want {
			t.Errorf("Content-Type %q, want %q", got, want)
		}
	}
}

func TestBuildMessageEncoding(t *testing.T) {
	m := &providers.Message{
		IdempotencyKey: "campaign.winback_dec/a/c 42",
		To:             "ada@example.com",
		From:           "news@acme-outdoor.example",
		FromName:       `Zoë "the" Outdoors`,
		Subject:        "Ünïcödé — a subject long enough that it has to be folded onto more than one line\r\nBcc: x@example.com",
		Text:           strings.Repeat("A long line of text with = signs and ünïcödé ", 10) + "\n.\n..leading dots\n",
		HTML:           "<p>" + strings.Repeat("x", 2000) + "</p>",
		Headers:        map[string]string{"X-Campaign-Note": "café"},
	}
	raw, err := BuildMessage(m, date)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 76 && !strings.HasPrefix(line, "Message-ID") && !strings.HasPrefix(line, "=") && !strings.HasPrefix(line, "<p>") {
			t.Errorf("line %d has %d characters: %q", i+1, len(line), line)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(m.Subject, "\r\n", "  "); subject != want {
		t.Errorf("Subject %q, want %q", subject, want)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Errorf("a line break in the subject made a Bcc header")
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || from[0].Name != m.FromName {
		t.Errorf("From %v %v", from, err)
	}
	note, _ := dec.DecodeHeader(msg.Header.Get("X-Campaign-Note"))
	if note != "café" {
		t.Errorf("X-Campaign-Note %q", note)
	}
	id := msg.Header.Get("Message-ID")
	if !strings.HasPrefix(id, "<h") || !strings.HasSuffix(id, "@acme-outdoor.example>") || strings.ContainsAny(id, " /") {
		t.Errorf("Message-ID %q for a key with a space and slashes", id)
	}
	if ids, err := msg.Header.AddressList("Message-ID"); err != nil || len(ids) != 1 {
		t.Errorf("Message-ID %q does not parse: %v", id, err)
	}
	m.Subject = subject
	checkMessage(t, raw, m)
}

func TestBuildMessageErrors(t *testing.T) {
	base := func() *providers.Message {
		return &providers.Message{IdempotencyKey: "k", To: "ada@example.com", From: "b@example.com", Text: "x"}
	}
	for _, tt := range []struct {
		edit func(*providers.Message)
		err  string
	}{
		{func(m *providers.Message) { m.IdempotencyKey = "" }, "no idempotency key"},
		{func(m *providers.Message) { m.From = "" }, "no From address"},
		{func(m *providers.Message) { m.To = "ada" }, "To address of the message is not an e-mail address"},
		{func(m *providers.Message) { m.To = "ada@example.com\r\nRCPT TO:<x@y>" }, "line break"},
		{func(m *providers.Message) { m.ReplyTo = "nope" }, "Reply-To"},
		{func(m *providers.Message) { m.Headers = map[string]string{"Bcc": "x@example.com"} }, "herald writes that header itself"},
		{func(m *providers.Message) { m.Headers = map[string]string{"message-id": "<x@y>"} }, "herald writes that header itself"},
		{func(m *providers.Message) { m.Headers = map[string]string{"X Bad": "v"} }, "not a header field name"},
		{func(m *providers.Message) { m.Headers = map[string]string{"X-A": "v\nBcc: x@example.com"} }, "line break"},
		{func(m *providers.Message) { m.HTML = "\xff" }, "not UTF-8"},
	} {
		m := base()
		tt.edit(m)
		_, err := BuildMessage(m, date)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%+v: %v, want %q", m, err, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), "ada@example.com") {
			t.Errorf("the error names the address: %v", err)
		}
	}
}

func TestMessageID(t *testing.T) {
	for key, want := range map[string]string{
		"abc-123":        "abc-123@acme.example",
		"a.b":            "a.b@acme.example",
		".a":             "h" + keyHash(".a")[:40] + "@acme.example",
		"a b":            "h" + keyHash("a b")[:40] + "@acme.example",
		"x<y>":           "h" + keyHash("x<y>")[:40] + "@acme.example",
		"campaign.x/a/1": "campaign.x/a/1@acme.example",
	} {
		if got := MessageID(&providers.Message{IdempotencyKey: key, From: "n@Acme.Example"}); got != want {
			t.Errorf("MessageID(%q) = %q, want %q", key, got, want)
		}
	}
	if got := MessageID(&providers.Message{IdempotencyKey: "k"}); got != "k@herald" {
		t.Errorf("MessageID without a From = %q", got)
	}
}
