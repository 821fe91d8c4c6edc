package ingest

import (
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/state"
)

const twilioAddr = "provider.twilio.main"

// newState is an SQLite state with a campaign and a trigger, and ledger
// rows sent through Twilio and Mandrill.
func newState(t *testing.T) state.Backend {
	t.Helper()
	ctx := context.Background()
	st, err := state.OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.WriteObjects(ctx, []state.Object{
		{Address: "campaign.promo", Kind: "campaign", Status: "sent"},
		{Address: "trigger.cart", Kind: "trigger", Status: "active"},
		{Address: "segment.big", Kind: "segment"},
	}, nil); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	rows := []state.Send{
		{Key: "k1", Campaign: "campaign.promo", CustomerID: "c1", Channel: "sms", Provider: twilioAddr, Status: "sent", ProviderMessageID: "SM1"},
		{Key: "k2", Campaign: "campaign.promo", CustomerID: "c2", Channel: "sms", Provider: twilioAddr, Status: "sent", ProviderMessageID: "SM2"},
		{Key: "k3", Campaign: "trigger.cart", CustomerID: "c3", Channel: "sms", Provider: twilioAddr, Status: "sent", ProviderMessageID: "SM3"},
		{Key: "k4", Campaign: "campaign.promo", CustomerID: "c4", Channel: "email", Provider: "provider.mailchimp.tx", Status: "sent", ProviderMessageID: "md4"},
		{Key: "k5", Campaign: "campaign.promo", CustomerID: "c5", Channel: "email", Provider: "provider.mailchimp.tx", Status: "pending"},
		// Same id through another provider: not ours.
		{Key: "k6", Campaign: "campaign.promo", CustomerID: "c6", Channel: "sms", Provider: "provider.twilio.other", Status: "sent", ProviderMessageID: "SM9"},
	}
	for i := range rows {
		rows[i].CreatedAt, rows[i].UpdatedAt = t0, t0
	}
	if err := st.RecordSends(ctx, rows); err != nil {
		t.Fatal(err)
	}
	return st
}

func ledger(t *testing.T, st state.Backend) map[string]state.Send {
	t.Helper()
	out := map[string]state.Send{}
	for _, c := range []string{"campaign.promo", "trigger.cart"} {
		if err := st.Sends(context.Background(), c, func(s state.Send) error { out[s.Key] = s; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func suppressions(t *testing.T, st state.Backend) map[string]string {
	t.Helper()
	sups, err := st.Suppressions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range sups {
		out[s.CustomerID+"/"+s.Channel] = s.Reason
	}
	return out
}

func form(kv ...string) url.Values {
	f := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return f
}

func TestParseTwilio(t *testing.T) {
	for name, tc := range map[string]struct {
		form                     url.Values
		status, suppress, errStr string
		note                     bool
	}{
		"delivered":   {form: form("MessageSid", "SM1", "MessageStatus", "delivered")},
		"undelivered": {form: form("MessageSid", "SM1", "MessageStatus", "undelivered", "ErrorCode", "30003"), status: "failed", errStr: "twilio: undelivered (error 30003)"},
		"failed":      {form: form("MessageSid", "SM1", "MessageStatus", "failed"), status: "failed", errStr: "twilio: failed"},
		"stop code":   {form: form("MessageSid", "SM1", "MessageStatus", "failed", "ErrorCode", "21610"), status: "failed", suppress: "stop", errStr: "twilio: failed (error 21610)"},
		"legacy":      {form: form("SmsSid", "SM1", "SmsStatus", "undelivered"), status: "failed", errStr: "twilio: undelivered"},
		"inbound":     {form: form("MessageSid", "SM7", "SmsStatus", "received", "Body", " stop "), note: true},
		"inbound hi":  {form: form("MessageSid", "SM7", "Body", "hello"), note: true},
	} {
		evs, err := ParseTwilio(tc.form, "f")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		e := evs[0]
		if e.Status != tc.status || e.Suppress != tc.suppress || e.Error != tc.errStr || (e.Note != "") != tc.note {
			t.Errorf("%s: got %+v", name, e)
		}
	}
	if evs, _ := ParseTwilio(form("MessageSid", "SM7", "Body", "STOP"), "f"); evs[0].Kind != "incoming STOP" || evs[0].MessageID != "" {
		t.Errorf("incoming STOP: %+v", evs[0])
	}
	for _, f := range []url.Values{form("Foo", "bar"), form("MessageSid", "SM1", "MessageStatus", "exploded")} {
		if _, err := ParseTwilio(f, "f"); err == nil {
			t.Errorf("ParseTwilio(%v): no error", f)
		}
	}
}

const mandrillBatch = `[
 {"event":"send","ts":1764158400,"_id":"md5","msg":{"_id":"md5","state":"sent","email":"e@example.com","metadata":{"herald_key":"k5"}}},
 {"event":"hard_bounce","ts":1764158400,"_id":"md4","msg":{"_id":"md4","state":"bounced","bounce_description":"bad_mailbox","email":"d@example.com","metadata":{"herald_key":"k4"}}},
 {"event":"spam","_id":"md4","msg":{"_id":"md4"}},
 {"event":"open","_id":"md4","msg":{"_id":"md4"}},
 {"event":"whitelist","type":"whitelist","entry":{"email":"x@example.com"}},
 {"type":"blacklist","action":"add","reject":{"email":"y@example.com"}},
 {"event":"hard_bounce","_id":"nope","msg":{"_id":"nope"}}
]`

func TestParseMandrill(t *testing.T) {
	evs, err := ParseMandrill(form("mandrill_events", mandrillBatch), "m.http")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 7 {
		t.Fatalf("%d events", len(evs))
	}
	if e := evs[0]; e.Status != "sent" || e.Key != "k5" || e.MessageID != "md5" || e.At.IsZero() {
		t.Errorf("send: %+v", e)
	}
	if e := evs[1]; e.Status != "failed" || e.Suppress != "bounce" || e.Error != "mailchimp: hard_bounce (bad_mailbox)" {
		t.Errorf("hard_bounce: %+v", e)
	}
	if e := evs[2]; e.Status != "" || e.Suppress != "complaint" {
		t.Errorf("spam: %+v", e)
	}
	if e := evs[3]; e.Status != "" || e.Suppress != "" || e.Note != "" {
		t.Errorf("open: %+v", e)
	}
	if e := evs[4]; e.Note == "" || evs[5].Note == "" || evs[5].Kind != "sync blacklist" {
		t.Errorf("sync events: %+v %+v", e, evs[5])
	}
	if evs, err := ParseMandrill(form("mandrill_events", "[]"), "m"); err != nil || len(evs) != 0 {
		t.Errorf("empty batch: %v %v", evs, err)
	}
	for _, f := range []url.Values{form("MessageSid", "SM1"), form("mandrill_events", "{")} {
		if _, err := ParseMandrill(f, "m"); err == nil {
			t.Errorf("ParseMandrill(%v): no error", f)
		}
	}
}

func TestApplyTwilio(t *testing.T) {
	ctx := context.Background()
	st := newState(t)
	var evs []Event
	for _, f := range []url.Values{
		form("MessageSid", "SM1", "MessageStatus", "undelivered", "ErrorCode", "30003"),
		form("MessageSid", "SM1", "MessageStatus", "delivered"), // reordered: the failure stands
		form("MessageSid", "SM2", "MessageStatus", "delivered"),
		form("MessageSid", "SM3", "MessageStatus", "failed", "ErrorCode", "21610"),
		form("MessageSid", "SM9", "MessageStatus", "failed"), // another provider's send
		form("MessageSid", "SM77", "Body", "STOP"),
	} {
		e, err := ParseTwilio(f, "req")
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e...)
	}
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	dry, err := Apply(ctx, st, twilioAddr, evs, Options{DryRun: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Updated != 2 || dry.Suppressions != 1 {
		t.Fatalf("dry run: %+v", dry)
	}
	if l := ledger(t, st); l["k1"].Status != "sent" || len(suppressions(t, st)) != 0 {
		t.Fatal("a dry run wrote")
	}
	res, err := Apply(ctx, st, twilioAddr, evs, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	l := ledger(t, st)
	if s := l["k1"]; s.Status != "failed" || s.Error != "twilio: undelivered (error 30003)" || s.ProviderMessageID != "SM1" || !s.UpdatedAt.Equal(now) {
		t.Errorf("k1: %+v", s)
	}
	if s := l["k2"]; s.Status != "sent" {
		t.Errorf("k2: %+v", s)
	}
	if s := l["k3"]; s.Status != "failed" {
		t.Errorf("k3: %+v", s)
	}
	if s := l["k6"]; s.Status != "sent" {
		t.Errorf("k6 (provider.twilio.other) changed: %+v", s)
	}
	if got := suppressions(t, st); len(got) != 1 || got["c3/sms"] != "stop" {
		t.Errorf("suppressions: %v", got)
	}
	var lines []string
	for _, c := range res.Changes {
		lines = append(lines, c.Summary())
	}
	want := []string{
		"req: undelivered SM1 (campaign.promo, customer c1): send failed",
		"req: delivered SM1 (campaign.promo, customer c1): skipped: nothing to change",
		"req: delivered SM2 (campaign.promo, customer c2): skipped: nothing to change",
		"req: failed SM3 (trigger.cart, customer c3): send failed, suppressed on sms (stop)",
		"req: failed SM9: skipped: no send through provider.twilio.main with this message id in the ledger",
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("change %d:\n got %s\nwant %s", i, lines[i], w)
		}
	}
	if !strings.HasPrefix(lines[5], "req: incoming STOP: skipped: an incoming STOP names a phone number") {
		t.Errorf("change 5: %s", lines[5])
	}
	// Ingesting the same webhooks again changes nothing more.
	again, err := Apply(ctx, st, twilioAddr, evs, Options{})
	if err != nil || again.Updated != 0 || again.Suppressions != 0 {
		t.Errorf("again: %+v %v", again, err)
	}
}

func TestApplyMandrill(t *testing.T) {
	ctx := context.Background()
	st := newState(t)
	evs, err := ParseMandrill(form("mandrill_events", mandrillBatch), "m")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Apply(ctx, st, "provider.mailchimp.tx", evs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := ledger(t, st)
	// k5 was pending without an id: the send event, found by herald_key,
	// marks it sent and records Mandrill's id.
	if s := l["k5"]; s.Status != "sent" || s.ProviderMessageID != "md5" {
		t.Errorf("k5: %+v", s)
	}
	if s := l["k4"]; s.Status != "failed" || s.Error != "mailchimp: hard_bounce (bad_mailbox)" {
		t.Errorf("k4: %+v", s)
	}
	// The first suppression of a customer on a channel stands.
	if got := suppressions(t, st); len(got) != 1 || got["c4/email"] != "bounce" {
		t.Errorf("suppressions: %v", got)
	}
	if res.Updated != 2 || res.Suppressions != 1 {
		t.Errorf("result: %+v", res)
	}
	if c := res.Changes[6]; c.Send != nil || !strings.Contains(c.Skipped, "no send through provider.mailchimp.tx") {
		t.Errorf("unknown id: %+v", c)
	}
}

func TestApplyNoEvents(t *testing.T) {
	st := newState(t)
	res, err := Apply(context.Background(), st, twilioAddr, nil, Options{})
	if err != nil || res.Updated != 0 || len(res.Changes) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestReadRequest(t *testing.T) {
	body := "MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003"
	raw := "POST /hooks/twilio?x=1 HTTP/1.1\r\nHost: herald.example.com\r\nX-Twilio-Signature: abc=\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
		itoa(len(body)) + "\r\n\r\n" + body
	r, err := ReadRequest(strings.NewReader(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	if r.URL != "https://herald.example.com/hooks/twilio?x=1" || r.Platform != Twilio || r.Signature != "abc=" || r.Form.Get("ErrorCode") != "30003" {
		t.Errorf("%+v", r)
	}
	// LF line ends, no Content-Length, a trailing newline; -url given.
	raw = "POST /m HTTP/1.1\nHost: h.example\nX-Mandrill-Signature: s\n\nmandrill_events=%5B%5D\n"
	r, err = ReadRequest(strings.NewReader(raw), "https://hooks.example/m")
	if err != nil {
		t.Fatal(err)
	}
	if r.URL != "https://hooks.example/m" || r.Platform != Mandrill || r.Form.Get("mandrill_events") != "[]" {
		t.Errorf("%+v", r)
	}
	for name, raw := range map[string]string{
		"no head end": "POST / HTTP/1.1\r\nHost: h\r\n",
		"GET":         "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"json":        "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n\r\n{}",
		"cut short":   "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\nA=1",
		"garbage":     "hello\n\nworld",
		"rule key":    "POST / HTTP/1.1\r\nHost: h\r\nX-Twilio-Signature: s\r\nX-Twilio-Webhooks-Signature-Settings: key=k1,algorithm=HMAC_SHA256\r\n\r\nA=1",
	} {
		if _, err := ReadRequest(strings.NewReader(raw), ""); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
