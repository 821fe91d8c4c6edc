package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/state"
)

// Twilio's error code for a message to a number that replied STOP.
const twilioUnsubscribed = "21610"

// stopWords are the opt-out keywords Twilio's Advanced Opt-Out honours
// by default (case-insensitive, the whole message).
var stopWords = map[string]bool{
	"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true,
	"END": true, "QUIT": true, "OPTOUT": true, "REVOKE": true,
}

// ParseTwilio reads a Twilio message webhook: a status callback
// (MessageSid, MessageStatus, ErrorCode) or an incoming message (Body
// without MessageStatus, or with MessageStatus "received").
func ParseTwilio(form url.Values, source string) ([]Event, error) {
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid")
	}
	status := form.Get("MessageStatus")
	if status == "" {
		status = form.Get("SmsStatus")
	}
	if sid == "" && status == "" {
		return nil, errors.New("not a Twilio message webhook: it has no MessageSid and no MessageStatus")
	}
	e := Event{Source: source, File: source, Kind: status, MessageID: sid}
	if status == "received" || status == "receiving" || (status == "" && form.Has("Body")) {
		e.Kind = "incoming message"
		e.MessageID = ""
		if stopWords[strings.ToUpper(strings.TrimSpace(form.Get("Body")))] {
			e.Kind = "incoming STOP"
			e.Note = "an incoming STOP names a phone number, and the state holds none: herald cannot tell which customer sent it (Twilio blocks the number; the next send to it is suppressed on Twilio's error 21610)"
		} else {
			e.Note = "an incoming message is not about a send"
		}
		return []Event{e}, nil
	}
	code := form.Get("ErrorCode")
	switch status {
	case "undelivered", "failed", "canceled":
		e.Status = state.SendFailed
		e.Error = "twilio: " + status
		if code != "" && code != "0" {
			e.Error += " (error " + code + ")"
		}
	case "queued", "accepted", "scheduled", "sending", "sent", "delivered", "read", "partially_delivered":
	default:
		return nil, fmt.Errorf("unknown Twilio MessageStatus %q", status)
	}
	if code == twilioUnsubscribed {
		e.Suppress = "stop"
		if e.Status == "" {
			e.Status = state.SendFailed
			e.Error = "twilio: error " + code
		}
	}
	return []Event{e}, nil
}

// mandrillEvent is one element of mandrill_events.
type mandrillEvent struct {
	Event string       `json:"event"`
	Type  string       `json:"type"` // sync events: whitelist, blacklist
	ID    string       `json:"_id"`
	TS    json.Number  `json:"ts"`
	Msg   *mandrillMsg `json:"msg"`
}

type mandrillMsg struct {
	ID                string         `json:"_id"`
	State             string         `json:"state"`
	BounceDescription string         `json:"bounce_description"`
	Diag              string         `json:"diag"`
	Metadata          map[string]any `json:"metadata"`
}

// ParseMandrill reads a Mandrill event webhook: the form field
// mandrill_events, a JSON array of events. An empty array (Mandrill's
// test post when a webhook is added) has no events.
func ParseMandrill(form url.Values, source string) ([]Event, error) {
	if !form.Has("mandrill_events") {
		return nil, errors.New("not a Mandrill webhook: it has no mandrill_events field")
	}
	var raw []mandrillEvent
	if err := json.Unmarshal([]byte(form.Get("mandrill_events")), &raw); err != nil {
		return nil, fmt.Errorf("mandrill_events is not a JSON array of events: %w", err)
	}
	var out []Event
	for i, m := range raw {
		e := Event{Source: fmt.Sprintf("%s[%d]", source, i), File: source, Kind: m.Event}
		if ts, err := m.TS.Int64(); err == nil && ts > 0 {
			e.At = time.Unix(ts, 0).UTC()
		}
		if m.Msg == nil {
			if m.Event == "" {
				e.Kind = "sync " + m.Type
			}
			e.Note = "the event is not about a message"
			out = append(out, e)
			continue
		}
		e.MessageID = m.Msg.ID
		if e.MessageID == "" {
			e.MessageID = m.ID
		}
		if k, ok := m.Msg.Metadata["herald_key"].(string); ok {
			e.Key = k
		}
		why := func() string {
			s := "mailchimp: " + m.Event
			if d := m.Msg.BounceDescription; d != "" {
				s += " (" + d + ")"
			}
			return s
		}
		switch m.Event {
		case "send":
			e.Status = state.SendSent
		case "hard_bounce":
			e.Status, e.Error, e.Suppress = state.SendFailed, why(), "bounce"
		case "soft_bounce", "reject":
			e.Status, e.Error = state.SendFailed, why()
		case "spam":
			e.Suppress = "complaint"
		case "unsub":
			e.Suppress = "unsubscribe"
		case "deferral", "open", "click":
		default:
			e.Note = "herald does not act on Mandrill's " + strconv.Quote(m.Event) + " events"
		}
		out = append(out, e)
	}
	return out, nil
}
