package smtp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

// testServer is a real SMTP server (go-smtp) on a loopback port, in the
// test process, that records what it is sent.
type testServer struct {
	t    *testing.T
	srv  *gosmtp.Server
	host string
	port int

	mu       sync.Mutex
	received []received
	sessions int
	conns    []*gosmtp.Conn
	// rcpt, when set, answers RCPT TO; data answers the message.
	rcpt func(to string) error
	data func() error
	// delay holds the reply to the message back.
	delay time.Duration
}

type received struct {
	From, To string
	Data     []byte
	TLS      bool
	User     string // who authenticated, "" when no one
	Helo     string
}

type serverOpts struct {
	tls      *tls.Config // offers STARTTLS with it, or serves implicit TLS
	implicit bool
	auth     bool // offer AUTH PLAIN and LOGIN for user/secret
	insecure bool // allow AUTH without TLS
}

const (
	testUser     = "herald-user"
	testPassword = "s3cret-Pa55word"
)

func newServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	ts := &testServer{t: t}
	ts.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.sessions++
		ts.conns = append(ts.conns, c)
		_, isTLS := c.TLSConnectionState()
		s := &session{ts: ts, tls: isTLS, helo: c.Hostname()}
		if o.auth {
			return &authSession{s}, nil
		}
		return s, nil
	}))
	ts.srv.Domain = "mx.test"
	ts.srv.AllowInsecureAuth = o.insecure
	ts.srv.ErrorLog = log.New(io.Discard, "", 0)
	ts.srv.ReadTimeout = 10 * time.Second
	ts.srv.WriteTimeout = 10 * time.Second
	var l net.Listener
	var err error
	if o.implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", o.tls)
	} else {
		ts.srv.TLSConfig = o.tls
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	ts.host = "127.0.0.1"
	ts.port = l.Addr().(*net.TCPAddr).Port
	go ts.srv.Serve(l)
	t.Cleanup(func() { ts.srv.Close() })
	return ts
}

func (ts *testServer) messages() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.received...)
}

func (ts *testServer) sessionCount() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.sessions
}

// dropAll closes every connection from the server's side, as a server
// does with idle clients.
func (ts *testServer) dropAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, c := range ts.conns {
		c.Close()
	}
}

type session struct {
	ts   *testServer
	tls  bool
	helo string
	user string
	from string
	to   string
}

func (s *session) Reset()        { s.from, s.to = "", "" }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.ts.mu.Lock()
	f := s.ts.rcpt
	s.ts.mu.Unlock()
	if f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	s.to = to
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ts.mu.Lock()
	f, delay := s.ts.data, s.ts.delay
	s.ts.mu.Unlock()
	time.Sleep(delay)
	if f != nil {
		if err := f(); err != nil {
			return err
		}
	}
	s.ts.mu.Lock()
	s.ts.received = append(s.ts.received, received{From: s.from, To: s.to, Data: b, TLS: s.tls, User: s.user, Helo: s.helo})
	s.ts.mu.Unlock()
	return nil
}

type authSession struct{ *session }

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (s *authSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != testUser || pass != testPassword {
			return gosmtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

func (s *authSession) Mail(from string, o *gosmtp.MailOptions) error {
	if s.user == "" {
		return gosmtp.ErrAuthRequired
	}
	return s.session.Mail(from, o)
}

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(resp))
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool
// that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "herald test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// trust makes the client trust pool for the rest of the test.
func trust(t *testing.T, pool *x509.CertPool) {
	old := rootCAs
	rootCAs = pool
	t.Cleanup(func() { rootCAs = old })
}

// provider is an smtp provider block for ts with attrs on top.
func (ts *testServer) provider(attrs map[string]cty.Value) *lang.Provider {
	a := map[string]cty.Value{
		"host":    cty.StringVal(ts.host),
		"port":    cty.NumberIntVal(int64(ts.port)),
		"timeout": cty.StringVal("5s"),
	}
	for k, v := range attrs {
		a[k] = v
	}
	return &lang.Provider{Type: "smtp", Name: "main", Attributes: a}
}

func (ts *testServer) open(t *testing.T, attrs map[string]cty.Value) *Channel {
	t.Helper()
	ch, err := Open(context.Background(), providers.ChannelRequest{Dir: t.TempDir(), Provider: ts.provider(attrs)})
	if err != nil {
		t.Fatal(err)
	}
	ch.now = func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	t.Cleanup(func() { ch.Close() })
	return ch
}

func message(key string) *providers.Message {
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
		Text:           "Hello Ada.\n.\n..signature\nUnsubscribe: https://herald.acme-outdoor.example/u/abc\n",
		HTML:           "<p>Hello Ada.</p>\n<p><a href=\"https://herald.acme-outdoor.example/u/abc\">Unsubscribe</a></p>\n",
		Headers: map[string]string{
			"List-Unsubscribe":      "<https://herald.acme-outdoor.example/u/abc>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		},
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
