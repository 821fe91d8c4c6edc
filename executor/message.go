package executor

import (
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"time"

	"cel.dev/cel-go/common/types"

	"github.com/heraldhq/herald/executor/links"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

// msgEnv is what every message of an apply, or of a runner's batch,
// shares: the sender, where the customer's address fields are, and how
// links are signed.
type msgEnv struct {
	sender         strRecord
	emailF, phoneF string
	base           string        // public_url; "" when the project has none
	signer         *links.Signer // nil without public_url
	now            time.Time     // the templates' now
	linksFrom      time.Time     // unsubscribe links expire a year after it
}

// newMsgEnv reads the sender and the address fields from cfg; base and
// signer are set by the caller, which has the link key.
func newMsgEnv(cfg *lang.Config, now time.Time) *msgEnv {
	snd := cfg.Herald.Sender
	e := &msgEnv{now: now, linksFrom: now,
		sender: strRecord{"name": snd.Name, "email": snd.Email, "postal_address": snd.PostalAddress, "reply_to": snd.ReplyTo}}
	e.emailF, e.phoneF = piiFields(cfg)
	return e
}

// piiFields names the customer schema's e-mail and phone fields.
func piiFields(cfg *lang.Config) (email, phone string) {
	if s := cfg.CustomerSchema; s != nil {
		for _, f := range s.Fields {
			switch {
			case f.PII == "email" && email == "":
				email = f.Name
			case f.PII == "phone" && phone == "":
				phone = f.Name
			}
		}
	}
	return email, phone
}

// address is where a message on channel goes for this customer: their
// e-mail address or phone number, or for a webhook their id; "" when the
// profile has none.
func (e *msgEnv) address(rec *providers.Record, channel, id string) string {
	f := e.emailF
	if channel == "sms" {
		f = e.phoneF
	}
	if f == "" {
		if channel == "webhook" {
			return id // a webhook addresses the endpoint, not a person
		}
		return ""
	}
	return rec.String(f)
}

// msgSpec is one message to render.
type msgSpec struct {
	key, addr, variant, customer, channel, purpose, to string
	tmpl                                               *compiledTemplate
	rec                                                *providers.Record
	event                                              lang.Record // a journey's starting event, or nil
	utm                                                url.Values
	clicks, opens                                      bool
}

// render makes the message: each template part with its holes (HTML- or
// JSON-escaped where it goes into HTML or JSON), UTM parameters on links,
// click and open tracking when asked for, and the unsubscribe link with
// the RFC 8058 headers on marketing e-mail.
func (e *msgEnv) render(s msgSpec) (*providers.Message, error) {
	if s.tmpl == nil {
		return nil, fmt.Errorf("no template for variant %q", s.variant)
	}
	m := &providers.Message{
		IdempotencyKey: s.key, Campaign: s.addr, Variant: s.variant, CustomerID: s.customer,
		Channel: s.channel, To: s.to,
		From: e.sender["email"], FromName: e.sender["name"], ReplyTo: e.sender["reply_to"],
	}
	unsub, unsubPfx := "", ""
	if e.signer != nil {
		unsubPfx = e.base + "/u/"
		unsub = unsubPfx + e.signer.Unsubscribe(s.addr, s.customer, e.linksFrom.Add(365*24*time.Hour))
	}
	clicks, opens := s.clicks && e.signer != nil, s.opens && e.signer != nil
	recipient := strRecord{"id": s.customer, "timezone": s.rec.String("timezone")}
	if e.emailF != "" {
		recipient["email"] = s.rec.String(e.emailF)
	}
	if e.phoneF != "" {
		recipient["phone"] = s.rec.String(e.phoneF)
	}
	act := &activation{customer: s.rec, sender: e.sender, recipient: recipient, unsub: unsub,
		now: types.Timestamp{Time: e.now}, event: s.event}
	for name, part := range s.tmpl.parts {
		var esc func(string) string
		switch name {
		case "html":
			esc = html.EscapeString
		case "payload":
			esc = jsonEscape
		}
		out, err := part.render(act, esc)
		if err != nil {
			return nil, fmt.Errorf("rendering template.%s %s: %w", s.tmpl.name, name, err)
		}
		switch name {
		case "subject":
			m.Subject = out
		case "html":
			m.HTML = addUTM(out, s.utm, unsubPfx, true)
			if clicks || opens {
				m.HTML = links.Rewrite(m.HTML, e.base, e.signer, s.addr, s.customer, clicks, opens)
			}
		case "text", "body":
			m.Text = addUTM(out, s.utm, unsubPfx, false)
			if clicks {
				m.Text = links.RewriteText(m.Text, e.base, e.signer, s.addr, s.customer)
			}
		case "payload":
			if !json.Valid([]byte(out)) {
				return nil, fmt.Errorf("template.%s payload is not valid JSON once rendered", s.tmpl.name)
			}
			m.Payload = json.RawMessage(out)
		}
	}
	if s.channel == "email" && s.purpose == "marketing" && unsub != "" {
		m.Headers = map[string]string{
			"List-Unsubscribe":      "<" + unsub + ">",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		}
	}
	return m, nil
}
