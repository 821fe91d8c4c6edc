package smtp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/providers"
)

// reservedHeaders are the header fields BuildMessage writes itself, or that
// would add recipients or change the message's structure: Message.Headers
// may not set them.
var reservedHeaders = map[string]bool{
	"from": true, "sender": true, "to": true, "cc": true, "bcc": true, "reply-to": true,
	"subject": true, "date": true, "message-id": true, "mime-version": true,
	"content-type": true, "content-transfer-encoding": true,
	"dkim-signature": true, "return-path": true,
}

// BuildMessage renders m as an RFC 5322 message with CRLF line endings,
// ready for SMTP DATA or to be saved as an .eml file:
//
//   - From (with FromName), To, Reply-To, Subject (RFC 2047-encoded when it
//     is not plain ASCII), Date, Message-ID and MIME-Version;
//   - m.Headers (List-Unsubscribe, List-Unsubscribe-Post…), sorted by name,
//     leaving out those with an empty value;
//   - a multipart/alternative body with a text/plain and a text/html part
//     when m has both, else a single part; each part is UTF-8 and
//     quoted-printable, so the message is 7-bit clean.
//
// The output depends only on m and date: the Message-ID and the multipart
// boundary are derived from m.IdempotencyKey, so a resend of the same key
// is the same message, byte for byte. An error means m cannot be sent as it
// is (no From, a header that would inject lines…); it names no address.
func BuildMessage(m *providers.Message, date time.Time) ([]byte, error) {
	if m == nil {
		return nil, errors.New("no message")
	}
	if m.IdempotencyKey == "" {
		return nil, errors.New("message has no idempotency key")
	}
	from, err := parseAddress("From", m.From)
	if err != nil {
		return nil, err
	}
	to, err := parseAddress("To", m.To)
	if err != nil {
		return nil, err
	}
	if !utf8.ValidString(m.Subject) || !utf8.ValidString(m.FromName) {
		return nil, errors.New("the subject or the sender's name of the message is not UTF-8")
	}

	var b bytes.Buffer
	b.Grow(len(m.HTML) + len(m.Text) + 1024)
	writeHeader(&b, "From", formatFrom(oneLine(m.FromName), from))
	writeHeader(&b, "To", to.String())
	if m.ReplyTo != "" {
		rt, err := parseAddress("Reply-To", m.ReplyTo)
		if err != nil {
			return nil, err
		}
		writeHeader(&b, "Reply-To", rt.String())
	}
	writeHeader(&b, "Subject", encodeText(oneLine(m.Subject)))
	writeHeader(&b, "Date", date.Format(time.RFC1123Z))
	writeHeader(&b, "Message-ID", "<"+MessageID(m)+">")
	writeHeader(&b, "MIME-Version", "1.0")

	names := make([]string, 0, len(m.Headers))
	for k := range m.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := m.Headers[k]
		if err := checkHeader(k, v); err != nil {
			return nil, err
		}
		if strings.TrimSpace(v) == "" {
			continue // an empty header says nothing
		}
		if !isASCII(v) {
			// Extra headers are structured (URLs, tokens): they are
			// encoded only when they could not be sent otherwise.
			v = encodeWords(v, len(k)+2)
		}
		writeHeader(&b, k, v)
	}

	switch {
	case m.Text != "" && m.HTML != "":
		boundary := "herald=_" + keyHash(m.IdempotencyKey)[:24]
		writeHeader(&b, "Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": boundary}))
		b.WriteString("\r\n")
		// The parts are quoted-printable, in which "=_" cannot occur (an
		// "=" is always followed by two hex digits or a line break), so
		// the boundary never appears inside a part.
		for _, p := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
			b.WriteString("--" + boundary + "\r\n")
			if err := writePart(&b, p.typ, p.body); err != nil {
				return nil, err
			}
			b.WriteString("\r\n")
		}
		b.WriteString("--" + boundary + "--\r\n")
	case m.HTML != "":
		if err := writePart(&b, "text/html", m.HTML); err != nil {
			return nil, err
		}
	default:
		if err := writePart(&b, "text/plain", m.Text); err != nil {
			return nil, err
		}
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// MessageID returns the Message-ID of m without its angle brackets:
// KEY@DOMAIN, where DOMAIN is the domain of m.From ("herald" when it has
// none) and KEY is m.IdempotencyKey, or a hash of it when the key holds
// characters a Message-ID may not. It is the same on every retry of m.
func MessageID(m *providers.Message) string {
	left := m.IdempotencyKey
	if !isDotAtom(left) || len(left) > 200 {
		left = "h" + keyHash(left)[:40]
	}
	right := "herald"
	if i := strings.LastIndexByte(m.From, '@'); i >= 0 {
		if d := strings.TrimRight(m.From[i+1:], ">"); isDotAtom(d) {
			right = strings.ToLower(d)
		}
	}
	return left + "@" + right
}

func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// isDotAtom reports whether s is an RFC 5322 dot-atom-text.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// parseAddress reads a bare e-mail address; the error does not repeat it,
// since an address is personal data.
func parseAddress(field, s string) (*mail.Address, error) {
	if s == "" {
		return nil, fmt.Errorf("message has no %s address", field)
	}
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("the %s address of the message holds a line break", field)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("the %s address of the message is not an e-mail address", field)
	}
	return &mail.Address{Address: a.Address}, nil
}

// formatFrom writes the From header's value. net/mail quotes an ASCII
// name; a name that is not ASCII is written here as encoded words, each of
// which is allowed in a phrase (RFC 2047 §5(3)), which mime.QEncoding's
// are not ("\\" and other specials stay literal there).
func formatFrom(name string, a *mail.Address) string {
	if name == "" || isASCII(name) {
		return (&mail.Address{Name: name, Address: a.Address}).String()
	}
	return encodeWords(name, len("From: ")) + " " + a.String()
}

// checkHeader refuses a header that is malformed, would break the message
// into more header lines, or would replace one BuildMessage writes.
func checkHeader(name, value string) error {
	if name == "" {
		return errors.New("message has a header with no name")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("message header %q: not a header field name", name)
		}
	}
	if reservedHeaders[strings.ToLower(name)] {
		return fmt.Errorf("message header %s: herald writes that header itself", name)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("message header %s: the value holds a line break", name)
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("message header %s: the value is not UTF-8", name)
	}
	return nil
}

// oneLine turns control characters (a line break in a rendered subject)
// into spaces: a header is one logical line.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// encodeText returns s as it may appear in an unstructured header
// (Subject): unchanged when it is printable ASCII with no word too long to
// fold, else RFC 2047 encoded words.
func encodeText(s string) string {
	need := strings.Contains(s, "=?")
	word := 0
	for i := 0; i < len(s) && !need; i++ {
		c := s[i]
		switch {
		case c >= 0x7f || c < ' ' && c != '\t':
			need = true
		case c == ' ' || c == '\t':
			word = 0
		default:
			word++
			need = word > 900
		}
	}
	if !need {
		return s
	}
	return encodeWords(s, len("Subject: "))
}

// encodeWords writes s as RFC 2047 Q-encoded words of UTF-8, separated by
// spaces, each short enough that a header line holding one stays within
// 76 characters (RFC 2047 §2) once writeHeader folds between them: the
// first follows "Name: ", of length lead; the others a folding space.
func encodeWords(s string, lead int) string {
	const (
		prefix = "=?utf-8?q?"
		suffix = "?="
		max    = maxLine - 1 - len(prefix) - len(suffix)
	)
	limit := maxLine - lead - len(prefix) - len(suffix)
	if limit < 12 {
		limit = max // writeHeader folds before the first word
	}
	var out, word strings.Builder
	flush := func() {
		if out.Len() > 0 {
			out.WriteByte(' ')
		}
		out.WriteString(prefix + word.String() + suffix)
		word.Reset()
		limit = max
	}
	var enc []byte
	for _, r := range s {
		enc = enc[:0]
		var buf [utf8.UTFMax]byte
		for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
			switch {
			case c == ' ':
				enc = append(enc, '_')
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("!*+-/", c) >= 0:
				enc = append(enc, c)
			default:
				enc = append(enc, '=', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			}
		}
		if word.Len()+len(enc) > limit && word.Len() > 0 {
			flush()
		}
		word.Write(enc)
	}
	if word.Len() > 0 || out.Len() == 0 {
		flush()
	}
	return out.String()
}

// maxLine is the length writeHeader folds at: RFC 5322 asks for 78, and
// RFC 2047 for 76 on lines with encoded words; 76 suits both.
const maxLine = 76

// writeHeader writes "Name: value" folded at spaces so that lines stay
// within maxLine characters where the value allows it.
func writeHeader(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(":")
	line := len(name) + 1
	for i, w := range strings.Split(value, " ") {
		// The first word stays on the name's line unless it is an encoded
		// word that would make the line too long.
		if line+1+len(w) > maxLine && (i > 0 || strings.HasPrefix(w, "=?")) {
			b.WriteString("\r\n")
			line = 0
		}
		b.WriteString(" ")
		b.WriteString(w)
		line += 1 + len(w)
	}
	b.WriteString("\r\n")
}

// writePart writes one UTF-8 quoted-printable part: its headers, a blank
// line and the encoded body.
func writePart(b *bytes.Buffer, typ, body string) error {
	if !utf8.ValidString(body) {
		return fmt.Errorf("the %s body of the message is not UTF-8", typ)
	}
	writeHeader(b, "Content-Type", typ+"; charset=utf-8")
	writeHeader(b, "Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	// Line breaks become LF before the encoder turns each into CRLF: the
	// encoder mishandles a CR that is not directly followed by its LF.
	if strings.IndexByte(body, '\r') >= 0 {
		body = strings.ReplaceAll(body, "\r\n", "\n")
		body = strings.ReplaceAll(body, "\r", "\n")
	}
	w := quotedprintable.NewWriter(b)
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}
