package smtp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

func TestRegistered(t *testing.T) {
	ts := newServer(t, serverOpts{})
	ch, err := providers.OpenChannel(context.Background(), providers.ChannelRequest{Provider: ts.provider(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if _, ok := ch.(*Channel); !ok {
		t.Fatalf("OpenChannel returned a %T", ch)
	}
}

// TestSendLoopback sends to a local server with no TLS, as to a Mailpit,
// and checks the message as the server received it.
func TestSendLoopback(t *testing.T) {
	ts := newServer(t, serverOpts{})
	ch := ts.open(t, map[string]cty.Value{"helo": cty.StringVal("sender.test")})
	m := message("k1")
	res := ch.Send(context.Background(), m)
	if res.Outcome != providers.Sent || res.Err != nil {
		t.Fatalf("Send: %v %v", res.Outcome, res.Err)
	}
	if res.ProviderMessageID != "k1@acme-outdoor.example" {
		t.Errorf("ProviderMessageID = %q", res.ProviderMessageID)
	}
	got := ts.messages()
	if len(got) != 1 {
		t.Fatalf("the server received %d messages", len(got))
	}
	r := got[0]
	if r.From != m.From || r.To != m.To || r.TLS || r.Helo != "sender.test" {
		t.Errorf("envelope %q → %q, tls %v, helo %q", r.From, r.To, r.TLS, r.Helo)
	}
	checkMessage(t, r.Data, m)
}

// checkMessage parses raw as a mail reader would and compares it with m.
func checkMessage(t *testing.T, raw []byte, m *providers.Message) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != m.From || from[0].Name != m.FromName {
		t.Errorf("From: %v %v", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != m.To {
		t.Errorf("To: %v %v", to, err)
	}
	if subject != m.Subject {
		t.Errorf("Subject = %q, want %q", subject, m.Subject)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if got, want := h.Get("Message-Id"), "<"+MessageID(m)+">"; got != want {
		t.Errorf("Message-ID = %q, want %q", got, want)
	}
	if h.Get("MIME-Version") != "1.0" {
		t.Errorf("MIME-Version = %q", h.Get("MIME-Version"))
	}
	for k, v := range m.Headers {
		if got, _ := dec.DecodeHeader(h.Get(k)); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Errorf("part encoding %q", p.Header.Get("Content-Transfer-Encoding"))
		}
		body, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p.Header.Get("Content-Type"), strings.ReplaceAll(string(body), "\r\n", "\n"))
	}
	want := []string{"text/plain; charset=utf-8", m.Text, "text/html; charset=utf-8", m.HTML}
	if strings.Join(parts, "|") != strings.Join(want, "|") {
		t.Errorf("parts\n%q\nwant\n%q", parts, want)
	}
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d has %d characters", i+1, len(line))
		}
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("a bare LF in the message")
	}
}

func TestSTARTTLSAndAuth(t *testing.T) {
	cfg, pool := selfSigned(t)
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			ts := newServer(t, serverOpts{tls: cfg, auth: true})
			if mech == "LOGIN" {
				ts.srv.Backend = loginOnly(ts.srv.Backend)
			}
			trust(t, pool)
			ch := ts.open(t, map[string]cty.Value{
				"username": cty.StringVal(testUser),
				"password": cty.StringVal(testPassword),
			})
			if res := ch.Send(context.Background(), message("k1")); res.Outcome != providers.Sent {
				t.Fatalf("Send: %v %v", res.Outcome, res.Err)
			}
			got := ts.messages()
			if len(got) != 1 || !got[0].TLS || got[0].User != testUser {
				t.Fatalf("received %+v", got)
			}
		})
	}
}

// loginOnly hides AUTH PLAIN, so that the client falls back to LOGIN.
func loginOnly(be gosmtp.Backend) gosmtp.Backend {
	return gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s, err := be.NewSession(c)
		if err != nil {
			return nil, err
		}
		return loginSession{s.(*authSession)}, nil
	})
}

type loginSession struct{ *authSession }

func (loginSession) AuthMechanisms() []string { return []string{"LOGIN"} }

func TestSTARTTLSUntrusted(t *testing.T) {
	cfg, _ := selfSigned(t)
	ts := newServer(t, serverOpts{tls: cfg, auth: true})
	_, err := Open(context.Background(), providers.ChannelRequest{Provider: ts.provider(map[string]cty.Value{
		"username": cty.StringVal(testUser),
		"password": cty.StringVal(testPassword),
	})})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Open with an untrusted certificate: %v", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("the error holds the password: %v", err)
	}
}

func TestImplicitTLS(t *testing.T) {
	cfg, pool := selfSigned(t)
	ts := newServer(t, serverOpts{tls: cfg, implicit: true, auth: true})
	trust(t, pool)
	ch := ts.open(t, map[string]cty.Value{
		"tls":      cty.StringVal("implicit"),
		"username": cty.StringVal(testUser),
		"password": cty.StringVal(testPassword),
	})
	if res := ch.Send(context.Background(), message("k1")); res.Outcome != providers.Sent {
		t.Fatalf("Send: %v %v", res.Outcome, res.Err)
	}
	if got := ts.messages(); len(got) != 1 || !got[0].TLS || got[0].User != testUser {
		t.Fatalf("received %+v", got)
	}
}

// TestRequireSTARTTLS: a server that does not offer STARTTLS is refused
// when the policy requires it (any host but loopback).
func TestRequireSTARTTLS(t *testing.T) {
	ts := newServer(t, serverOpts{})
	cfg, err := readConfig(providers.ChannelRequest{Provider: ts.provider(nil)})
	if err != nil {
		t.Fatal(err)
	}
	cfg.security = requireSTARTTLS
	ch := &Channel{cfg: cfg, now: time.Now, idle: make(chan *conn, 1)}
	_, err = ch.dial(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("dial: %v", err)
	}
	if len(ts.messages()) != 0 {
		t.Errorf("the server received a message")
	}
}

// TestOpportunisticSTARTTLS: on loopback, STARTTLS is used when offered.
func TestOpportunisticSTARTTLS(t *testing.T) {
	cfg, pool := selfSigned(t)
	ts := newServer(t, serverOpts{tls: cfg})
	trust(t, pool)
	ch := ts.open(t, nil)
	for _, k := range []string{"k1", "k2"} {
		if res := ch.Send(context.Background(), message(k)); res.Outcome != providers.Sent {
			t.Fatalf("Send: %v %v", res.Outcome, res.Err)
		}
	}
	for _, r := range ts.messages() {
		if !r.TLS {
			t.Errorf("sent without TLS")
		}
	}
}

func TestAuthFailed(t *testing.T) {
	ts := newServer(t, serverOpts{auth: true, insecure: true})
	_, err := Open(context.Background(), providers.ChannelRequest{Provider: ts.provider(map[string]cty.Value{
		"username": cty.StringVal(testUser),
		"password": cty.StringVal("wrong-Pa55word"),
	})})
	if err == nil || !strings.Contains(err.Error(), "535") {
		t.Fatalf("Open with a wrong password: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-Pa55word") {
		t.Errorf("the error holds the password: %v", err)
	}
}

func TestCredentialsFromEnv(t *testing.T) {
	ts := newServer(t, serverOpts{})
	p := ts.provider(map[string]cty.Value{
		"username": cty.StringVal(testUser),
		"password": cty.UnknownVal(cty.String),
	})
	p.Unset = map[string]lang.Unset{"password": {Env: []string{"SMTP_PASSWORD"}}}
	_, err := Open(context.Background(), providers.ChannelRequest{Provider: p})
	if err == nil || !strings.Contains(err.Error(), "password is not set: set the environment variable SMTP_PASSWORD") {
		t.Fatalf("Open with an unset password: %v", err)
	}
	p.Attributes["password"] = cty.NullVal(cty.String)
	if _, err := Open(context.Background(), providers.ChannelRequest{Provider: p}); err == nil || !strings.Contains(err.Error(), "username is set but password is not") {
		t.Fatalf("Open with no password: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		attrs map[string]cty.Value
		err   string
	}{
		{map[string]cty.Value{"host": cty.StringVal("smtp.example.com"), "tls": cty.StringVal("none")}, `tls = "none" would send the password`},
		{map[string]cty.Value{"host": cty.StringVal("")}, "no host"},
		{map[string]cty.Value{"host": cty.StringVal("smtp.example.com:587")}, "not a host name"},
		{map[string]cty.Value{"host": cty.StringVal("localhost"), "port": cty.NumberIntVal(70000)}, "port must be a whole number"},
		{map[string]cty.Value{"host": cty.StringVal("localhost"), "timeout": cty.StringVal("soon")}, "timeout"},
		{map[string]cty.Value{"host": cty.StringVal("localhost"), "dkim_domain": cty.StringVal("x.example")}, "dkim_domain, dkim_selector and dkim_private_key together"},
		{map[string]cty.Value{"host": cty.StringVal("localhost"), "dkim_domain": cty.StringVal("x.example"), "dkim_selector": cty.StringVal("s"), "dkim_private_key": cty.StringVal("not a key")}, "not a PEM private key"},
	} {
		_, err := readConfig(providers.ChannelRequest{Provider: &lang.Provider{Type: "smtp", Name: "main", Attributes: tt.attrs}})
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%v: %v, want %q", tt.attrs, err, tt.err)
		}
	}
}

func TestPolicy(t *testing.T) {
	for _, tt := range []struct {
		mode, host string
		port       int
		want       security
		err        bool
	}{
		{"", "smtp.example.com", 587, requireSTARTTLS, false},
		{"", "smtp.example.com", 25, requireSTARTTLS, false},
		{"", "smtp.example.com", 465, implicitTLS, false},
		{"starttls", "smtp.example.com", 465, requireSTARTTLS, false},
		{"implicit", "smtp.example.com", 2465, implicitTLS, false},
		{"none", "smtp.example.com", 25, 0, true},
		{"none", "10.0.0.1", 25, 0, true},
		{"", "localhost", 1025, opportunisticSTARTTLS, false},
		{"starttls", "LOCALHOST.", 1025, opportunisticSTARTTLS, false},
		{"", "127.0.0.2", 1025, opportunisticSTARTTLS, false},
		{"", "::1", 1025, opportunisticSTARTTLS, false},
		{"", "[::1]", 1025, opportunisticSTARTTLS, false},
		{"none", "127.0.0.1", 1025, plainText, false},
		{"none", "mail.localhost", 1025, plainText, false},
		{"", "localhost.example.com", 587, requireSTARTTLS, false},
		{"", "127.0.0.1.nip.io", 587, requireSTARTTLS, false},
		{"ssl", "localhost", 25, 0, true},
	} {
		got, err := policy(tt.mode, tt.host, tt.port)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("policy(%q, %q, %d) = %v, %v; want %v", tt.mode, tt.host, tt.port, got, err, tt.want)
		}
	}
}

func TestOutcomes(t *testing.T) {
	const to = "ada@example.com"
	for _, tt := range []struct {
		name   string
		rcpt   error
		data   error
		want   providers.Outcome
		reason string
		code   string
	}{
		{"greylisted", &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 2, 0}, Message: "<" + to + ">: greylisted"}, nil, providers.Retry, "", "450 4.2.0"},
		{"user unknown", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: user unknown"}, nil, providers.Suppress, "bounce", "550 5.1.1"},
		{"no such domain", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 2}, Message: "no such domain"}, nil, providers.Suppress, "bounce", "5.1.2"},
		{"disabled", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 2, 1}, Message: "mailbox disabled"}, nil, providers.Suppress, "bounce", "5.2.1"},
		{"bare 550", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.NoEnhancedCode, Message: "mailbox unavailable"}, nil, providers.Suppress, "bounce", "550"},
		{"bare 553", &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.NoEnhancedCode, Message: "mailbox name not allowed"}, nil, providers.Suppress, "bounce", "553"},
		{"relay denied", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "relaying denied"}, nil, providers.Failed, "", "5.7.1"},
		{"bad sender", &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 1, 8}, Message: "sender domain"}, nil, providers.Failed, "", "5.1.8"},
		{"data 451", nil, &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}, providers.Retry, "", "451"},
		{"data 552", nil, &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4}, Message: "too big"}, providers.Failed, "", "552"},
		{"data spam", nil, &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "spam"}, providers.Failed, "", "554"},
		{"data bounce", nil, &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: to + " unknown"}, providers.Suppress, "bounce", "5.1.1"},
		{"data bare 550", nil, &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.NoEnhancedCode, Message: "rejected"}, providers.Failed, "", "550"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, serverOpts{})
			ch := ts.open(t, nil)
			ts.rcpt = func(string) error { return tt.rcpt }
			ts.data = func() error { return tt.data }
			res := ch.Send(context.Background(), message("k1"))
			if res.Outcome != tt.want || res.SuppressReason != tt.reason {
				t.Fatalf("outcome %v %q (%v), want %v %q", res.Outcome, res.SuppressReason, res.Err, tt.want, tt.reason)
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), tt.code) {
				t.Errorf("error %v, want %s", res.Err, tt.code)
			}
			if strings.Contains(res.Err.Error(), to) {
				t.Errorf("the error names the recipient: %v", res.Err)
			}
			var re *ReplyError
			if !errors.As(res.Err, &re) {
				t.Errorf("the error is not a *ReplyError: %T", res.Err)
			}
			// The connection is reset and reused for the next message.
			ts.mu.Lock()
			ts.rcpt, ts.data = nil, nil
			ts.mu.Unlock()
			if res := ch.Send(context.Background(), message("k2")); res.Outcome != providers.Sent {
				t.Fatalf("the next Send: %v %v", res.Outcome, res.Err)
			}
			if n := ts.sessionCount(); n != 1 {
				t.Errorf("%d connections, want 1", n)
			}
		})
	}
}

func TestConnectionReuse(t *testing.T) {
	ts := newServer(t, serverOpts{})
	ch := ts.open(t, map[string]cty.Value{"concurrency": cty.NumberIntVal(2)})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := ch.Send(context.Background(), message("k"+itoa(i))); res.Outcome != providers.Sent {
				t.Errorf("Send: %v %v", res.Outcome, res.Err)
			}
		}()
	}
	wg.Wait()
	if got := len(ts.messages()); got != 20 {
		t.Errorf("received %d messages", got)
	}
	ts.mu.Lock()
	n := len(ts.conns)
	ts.mu.Unlock()
	if n > 20 {
		t.Errorf("%d connections for 20 messages", n)
	}
	// Sequential sends share one connection.
	before := ts.sessionCount()
	for i := range 5 {
		ch.Send(context.Background(), message("s"+itoa(i)))
	}
	if n := ts.sessionCount() - before; n > 0 {
		t.Errorf("%d new connections for sequential sends", n)
	}
}

// TestDroppedConnection: a pooled connection the server closed is
// replaced, and the send succeeds.
func TestDroppedConnection(t *testing.T) {
	ts := newServer(t, serverOpts{})
	ch := ts.open(t, nil)
	if res := ch.Send(context.Background(), message("k1")); res.Outcome != providers.Sent {
		t.Fatalf("Send: %v %v", res.Outcome, res.Err)
	}
	ts.dropAll()
	time.Sleep(50 * time.Millisecond)
	if res := ch.Send(context.Background(), message("k2")); res.Outcome != providers.Sent {
		t.Fatalf("Send after the server dropped the connection: %v %v", res.Outcome, res.Err)
	}
	if got := len(ts.messages()); got != 2 {
		t.Errorf("received %d messages", got)
	}
}

func TestTimeout(t *testing.T) {
	ts := newServer(t, serverOpts{})
	ch := ts.open(t, map[string]cty.Value{"timeout": cty.StringVal("200ms")})
	ts.mu.Lock()
	ts.delay = time.Second
	ts.mu.Unlock()
	start := time.Now()
	res := ch.Send(context.Background(), message("k1"))
	if res.Outcome != providers.Retry {
		t.Fatalf("a timed-out send: %v %v", res.Outcome, res.Err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("the send took %v", d)
	}
}

func TestCancel(t *testing.T) {
	ts := newServer(t, serverOpts{})
	ch := ts.open(t, nil)
	ts.mu.Lock()
	ts.delay = time.Second
	ts.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res := ch.Send(ctx, message("k1"))
	if res.Outcome != providers.Retry || !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Fatalf("a cancelled send: %v %v", res.Outcome, res.Err)
	}
	ts.mu.Lock()
	ts.delay = 0
	ts.mu.Unlock()
	if res := ch.Send(context.Background(), message("k2")); res.Outcome != providers.Sent {
		t.Fatalf("the next Send: %v %v", res.Outcome, res.Err)
	}
}

func TestSendAfterClose(t *testing.T) {
	ts := newServer(t, serverOpts{})
	ch := ts.open(t, nil)
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	if res := ch.Send(context.Background(), message("k1")); res.Outcome != providers.Retry {
		t.Fatalf("Send after Close: %v %v", res.Outcome, res.Err)
	}
}

func TestBadMessage(t *testing.T) {
	ts := newServer(t, serverOpts{})
	ch := ts.open(t, nil)
	m := message("k1")
	m.Headers["X-Evil"] = "a\r\nBcc: everyone@example.com"
	if res := ch.Send(context.Background(), m); res.Outcome != providers.Failed {
		t.Fatalf("header injection: %v %v", res.Outcome, res.Err)
	}
	m = message("k2")
	m.To = "not an address"
	if res := ch.Send(context.Background(), m); res.Outcome != providers.Failed || strings.Contains(res.Err.Error(), m.To) {
		t.Fatalf("a bad address: %v %v", res.Outcome, res.Err)
	}
	m = message("k3")
	m.To = "zoë@example.com"
	if res := ch.Send(context.Background(), m); res.Outcome != providers.Failed || !strings.Contains(res.Err.Error(), "SMTPUTF8") {
		t.Fatalf("a UTF-8 address to a server without SMTPUTF8: %v %v", res.Outcome, res.Err)
	}
	if len(ts.messages()) != 0 {
		t.Errorf("the server received a bad message")
	}
}

func TestDKIM(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		key    crypto.Signer
		pkcs1  bool
		record string
	}{
		{"rsa-pkcs8", rsaKey, false, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(rsaPub)},
		{"rsa-pkcs1", rsaKey, true, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(rsaPub)},
		{"ed25519", edKey, false, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edPub)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var block *pem.Block
			if tt.pkcs1 {
				block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(tt.key.(*rsa.PrivateKey))}
			} else {
				der, err := x509.MarshalPKCS8PrivateKey(tt.key)
				if err != nil {
					t.Fatal(err)
				}
				block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
			}
			pemKey := string(pem.EncodeToMemory(block))
			if tt.name == "ed25519" {
				// A key kept on one line in an environment variable.
				pemKey = strings.ReplaceAll(pemKey, "\n", `\n`)
			}
			ts := newServer(t, serverOpts{})
			ch := ts.open(t, map[string]cty.Value{
				"dkim_domain":      cty.StringVal("acme-outdoor.example"),
				"dkim_selector":    cty.StringVal("herald"),
				"dkim_private_key": cty.StringVal(pemKey),
			})
			m := message("k1")
			m.Subject = "Ünïcödé subject that is long enough to be folded over more than one header line"
			if res := ch.Send(context.Background(), m); res.Outcome != providers.Sent {
				t.Fatalf("Send: %v %v", res.Outcome, res.Err)
			}
			raw := ts.messages()[0].Data
			vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
				LookupTXT: func(domain string) ([]string, error) {
					if domain != "herald._domainkey.acme-outdoor.example" {
						return nil, errors.New("no such record: " + domain)
					}
					return []string{tt.record}, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "acme-outdoor.example" {
				t.Fatalf("verifications %+v", vs[0])
			}
			signed := strings.Join(vs[0].HeaderKeys, ":")
			for _, h := range []string{"From", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post", "Message-ID"} {
				if !strings.Contains(strings.ToLower(signed), strings.ToLower(h)) {
					t.Errorf("%s is not signed (h=%s)", h, signed)
				}
			}
			checkMessage(t, raw, m)
		})
	}
}

func TestProviderID(t *testing.T) {
	for reply, want := range map[string]string{
		"2.0.0 Ok: queued as 4BXyZ1Qk3Lz":                       "4BXyZ1Qk3Lz",
		"Ok: queued as <A1B2C3D4>":                              "A1B2C3D4",
		"Ok 0100018c7f2b6a1e-4f6f1c1e-0000-000000000000-000000": "0100018c7f2b6a1e-4f6f1c1e-0000-000000000000-000000",
		"2.0.0 OK: queued":                                      "",
		"2.0.0 OK  1699999999 a1-20020a05.123 - gsmtp":          "",
		"OK":       "",
		"2.0.0 Ok": "",
		"":         "",
	} {
		if got := providerID(reply); got != want {
			t.Errorf("providerID(%q) = %q, want %q", reply, got, want)
		}
	}
}

// TestUnsetCredentialFromConfig: the error for a credential that is not
// set names the environment variable that attribute reads, and not one
// that is set or that another attribute reads.
func TestUnsetCredentialFromConfig(t *testing.T) {
	const src = `provider "smtp" "main" {
  host     = "smtp.example.com"
  username = env("SMTP_USER")
  password = env("SMTP_PASSWORD")
}
`
	tests := []struct {
		name      string
		env       map[string]string
		want, not string
	}{
		{"user set", map[string]string{"SMTP_USER": "bob"}, "password is not set: set the environment variable SMTP_PASSWORD", "SMTP_USER"},
		{"password set", map[string]string{"SMTP_PASSWORD": "pw"}, "username is not set: set the environment variable SMTP_USER", "SMTP_PASSWORD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			cfg, diags := lang.LoadFS(fstest.MapFS{"main.hcl": {Data: []byte(src)}}, "p", lang.Options{LookupEnv: lookup})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			_, err := Open(context.Background(), providers.ChannelRequest{Provider: cfg.Providers["smtp.main"]})
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.not) {
				t.Fatalf("Open: %v, want %q and no %s", err, tc.want, tc.not)
			}
		})
	}
}
