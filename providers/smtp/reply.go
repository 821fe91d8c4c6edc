package smtp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/heraldhq/herald/providers"
)

// stage is the SMTP command a reply answered.
type stage int

const (
	stageConnect stage = iota // dial, greeting, EHLO, STARTTLS, AUTH
	stageMail                 // MAIL FROM
	stageRcpt                 // RCPT TO
	stageData                 // DATA, the message, and the reply to its final dot
)

func (s stage) String() string {
	return [...]string{"connect", "MAIL FROM", "RCPT TO", "DATA"}[s]
}

// classify maps a failed transaction to an outcome:
//
//   - a 4xx reply, or any error that is not a reply (a network error, a
//     timeout, a cancelled context) → Retry;
//   - a 5xx reply while connecting (TLS, AUTH) → Retry too: it is about
//     the connection, not this message, and Open has already checked the
//     configuration once;
//   - a 5xx reply to RCPT TO or to the message that says the mailbox does
//     not exist → Suppress with reason "bounce": enhanced status 5.1.1
//     (no such user), 5.1.2 (no such domain), 5.1.3 (bad address syntax),
//     5.1.6 (mailbox moved), 5.1.10 (null MX) or 5.2.1 (mailbox
//     disabled); without an enhanced status, 550, 551 or 553 to RCPT TO,
//     which RFC 5321 defines as mailbox unavailable, not local, or not
//     allowed;
//   - any other 5xx (policy 5.7.x, a rejected sender, a message too big)
//     → Failed.
//
// rcpt is the recipient's address, removed from the server's text so that
// the error carries no personal data.
func classify(st stage, err error, rcpt string) providers.SendResult {
	var pe permanentError
	if errors.As(err, &pe) {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("smtp %s: %w", st, err)}
	}
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return providers.SendResult{Outcome: providers.Retry, Err: fmt.Errorf("smtp %s: %w", st, err)}
		}
		return providers.SendResult{Outcome: providers.Retry, Err: fmt.Errorf("smtp %s: %w", st, redactErr(err, rcpt))}
	}
	rerr := &ReplyError{Stage: st.String(), Code: se.Code, Text: excerpt(redact(se.Message, rcpt))}
	if se.EnhancedCode != gosmtp.NoEnhancedCode {
		rerr.Enhanced = se.EnhancedCode
	}
	switch {
	case se.Code >= 400 && se.Code < 500, st == stageConnect:
		return providers.SendResult{Outcome: providers.Retry, Err: rerr}
	case se.Code >= 500 && se.Code < 600 && (st == stageRcpt || st == stageData) && isBounce(st, se):
		return providers.SendResult{Outcome: providers.Suppress, SuppressReason: "bounce", Err: rerr}
	case se.Code >= 500 && se.Code < 600:
		return providers.SendResult{Outcome: providers.Failed, Err: rerr}
	}
	// Not a failure code at all: a server that breaks the protocol.
	return providers.SendResult{Outcome: providers.Retry, Err: rerr}
}

// isBounce reports whether a 5xx reply says the recipient's mailbox does
// not exist or cannot receive mail.
func isBounce(st stage, se *gosmtp.SMTPError) bool {
	ec := se.EnhancedCode
	if ec != gosmtp.NoEnhancedCode && ec != (gosmtp.EnhancedCode{}) {
		switch {
		case ec[0] != 5:
			return false
		case ec[1] == 1:
			switch ec[2] {
			case 1, 2, 3, 6, 10:
				return true
			}
		case ec[1] == 2 && ec[2] == 1:
			return true
		}
		return false
	}
	if st != stageRcpt {
		return false
	}
	switch se.Code {
	case 550, 551, 553:
		return true
	}
	return false
}

// ReplyError is an SMTP server's negative reply to one command, with the
// recipient's address taken out of its text.
type ReplyError struct {
	Stage    string // MAIL FROM, RCPT TO, DATA, connect
	Code     int
	Enhanced [3]int // the enhanced status code (RFC 3463); zero when the server gave none
	Text     string
}

func (e *ReplyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "smtp %s: %d", e.Stage, e.Code)
	if e.Enhanced != [3]int{} {
		fmt.Fprintf(&b, " %d.%d.%d", e.Enhanced[0], e.Enhanced[1], e.Enhanced[2])
	}
	if e.Text != "" {
		b.WriteString(" ")
		b.WriteString(e.Text)
	}
	return b.String()
}

// redact replaces the recipient's address in a server's text.
func redact(s, rcpt string) string {
	if rcpt == "" {
		return s
	}
	// Servers echo the address as given or lower-cased.
	for _, a := range []string{rcpt, strings.ToLower(rcpt)} {
		s = strings.ReplaceAll(s, a, "(recipient)")
	}
	return s
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactErr(err error, rcpt string) error {
	if msg := err.Error(); rcpt != "" && strings.Contains(strings.ToLower(msg), strings.ToLower(rcpt)) {
		return &redactedError{msg: redact(msg, rcpt), err: err}
	}
	return err
}

// excerpt keeps a server's text short and on one line.
func excerpt(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " / ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// providerID picks the server's queue id out of the reply to the final
// dot ("250 2.0.0 Ok: queued as 4BXyZ1", "250 Ok 0100018c…"); "" when the
// reply names none.
func providerID(reply string) string {
	reply = strings.TrimSpace(reply)
	if i := strings.Index(strings.ToLower(reply), "queued as "); i >= 0 {
		if f := strings.Fields(reply[i+len("queued as "):]); len(f) > 0 {
			return strings.Trim(f[0], "<>.,;")
		}
	}
	f := strings.Fields(reply)
	if len(f) == 0 {
		return ""
	}
	last := strings.Trim(f[len(f)-1], "<>.,;")
	// An id has a digit and some length; "queued", "OK" and an enhanced
	// status code (2.0.0) are not ids.
	if len(last) < 6 || !strings.ContainsAny(last, "0123456789") || isEnhancedCode(last) {
		return ""
	}
	for _, r := range last {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_.@=+/", r)) {
			return ""
		}
	}
	return last
}

func isEnhancedCode(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// permanentError is a failure found before the server was asked: the
// message cannot be sent on this server as it is.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }
