package smtp

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"

	"github.com/heraldhq/herald/providers"
)

// FuzzBuildMessage checks that whatever a template renders, the message
// parses, has no header that was not asked for, and carries the subject
// and the bodies unchanged.
func FuzzBuildMessage(f *testing.F) {
	f.Add("k1", "Ada, we miss you", "Acme Outdoor", "Hello.\n", "<p>Hello.</p>", "<https://x.example/u>")
	f.Add("a b/c", "Ünïcödé =?utf-8?q?x?= subject", `Zoë "Q"`, ".\r\n..\r", "<p>\u00a0</p>", "café")
	f.Add("k", strings.Repeat("long ", 40), "", "", strings.Repeat("x", 3000), "")
	f.Fuzz(func(t *testing.T, key, subject, fromName, text, html, unsub string) {
		m := &providers.Message{
			IdempotencyKey: key, To: "ada@example.com", From: "news@acme.example", FromName: fromName,
			Subject: subject, Text: text, HTML: html,
			Headers: map[string]string{"List-Unsubscribe": unsub},
		}
		raw, err := BuildMessage(m, date)
		if err != nil {
			return // refused: a line break in a header, invalid UTF-8…
		}
		for _, line := range strings.Split(string(raw), "\r\n") {
			if len(line) > 998 {
				t.Fatalf("a line of %d characters", len(line))
			}
		}
		if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) || bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\r")) {
			t.Fatalf("a bare CR or LF")
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("the message does not parse: %v\n%q", err, raw)
		}
		if _, ok := msg.Header["List-Unsubscribe"]; ok == (strings.TrimSpace(unsub) == "") {
			t.Fatalf("List-Unsubscribe %q for %q", msg.Header.Get("List-Unsubscribe"), unsub)
		}
		for k := range msg.Header {
			switch k {
			case "From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "List-Unsubscribe", "Content-Type", "Content-Transfer-Encoding":
			default:
				t.Fatalf("an unexpected header %s", k)
			}
		}
		dec := new(mime.WordDecoder)
		got, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatalf("Subject %q: %v", msg.Header.Get("Subject"), err)
		}
		if norm(got) != norm(oneLine(subject)) {
			t.Fatalf("Subject %q, want %q", got, subject)
		}
		if _, err := msg.Header.AddressList("From"); err != nil {
			t.Fatalf("From %q: %v", msg.Header.Get("From"), err)
		}
		var bodies []string
		mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		if mt == "multipart/alternative" {
			mr := multipart.NewReader(msg.Body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(quotedprintable.NewReader(p))
				if err != nil {
					t.Fatal(err)
				}
				bodies = append(bodies, string(b))
			}
		} else {
			b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, string(b))
		}
		var want []string
		switch {
		case text != "" && html != "":
			want = []string{text, html}
		case html != "":
			want = []string{html}
		default:
			want = []string{text}
		}
		if len(bodies) != len(want) {
			t.Fatalf("%d parts, want %d", len(bodies), len(want))
		}
		for i := range want {
			if lines(bodies[i]) != lines(want[i]) {
				t.Fatalf("part %d\n%q\nwant\n%q", i, bodies[i], want[i])
			}
		}
	})
}

// norm compares header text as a folding-unaware reader sees it.
func norm(s string) string { return strings.Join(strings.Fields(s), " ") }

// lines compares bodies whose line breaks became CRLF on the way.
func lines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	// quoted-printable does not keep trailing spaces on a line apart from
	// encoding them, which the reader undoes; a final line break added
	// by the part framing is not part of the body.
	return strings.TrimSuffix(s, "\n")
}
