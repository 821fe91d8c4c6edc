// Package smtp is the "smtp" channel provider: it sends e-mail through an
// SMTP server (a submission port with AUTH, a relay, or a local Mailpit).
//
// A provider block takes host, port (587 by default; 465 means implicit
// TLS), username and password (from env()), tls, helo, dkim_domain,
// dkim_selector and dkim_private_key, and timeout. The connection is
// protected as policy describes: STARTTLS is required unless the host is
// loopback, where it is used when the server offers it; tls = "none" is
// refused for any other host. AUTH (PLAIN, else LOGIN) is only ever sent
// over TLS or to a loopback host.
//
// Open connects once, so that a wrong host, a certificate that does not
// verify or a wrong password is an error before the first message rather
// than a failure on every message. Connections are kept in a small pool
// (the concurrency attribute, 8 by default) and reused for up to
// maxPerConn messages; a pooled connection the server has dropped is
// replaced without failing the send.
//
// SMTP has no idempotency key. A send whose connection breaks after the
// message was handed over but before the server's reply arrives is
// reported as Retry, and the retry may deliver the message a second time;
// both copies carry the same Message-ID (derived from the idempotency key),
// by which mail clients can recognise the duplicate.
//
// Credentials are only ever used on the wire: no error, log line or
// provider message id contains the password, the DKIM key or the
// recipient's address.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/heraldhq/herald/providers"
)

func init() { providers.RegisterChannel("smtp", Factory) }

// Factory is the providers.ChannelFactory of the smtp provider.
func Factory(ctx context.Context, req providers.ChannelRequest) (providers.Channel, error) {
	ch, err := Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return ch, nil
}

const (
	defaultPort    = 587
	defaultTimeout = 30 * time.Second
	// defaultPool matches the executor's default concurrency: one pooled
	// connection per sending worker.
	defaultPool = 8
	// maxPerConn is how many messages one connection carries before it is
	// closed and a new one opened: some servers refuse more than 100.
	maxPerConn = 100
	// checkIdle is how long a pooled connection may sit unused before it
	// is checked with NOOP on reuse.
	checkIdle = 30 * time.Second
)

// Channel sends e-mail through one SMTP server. It is safe for concurrent
// use; each Send holds its own connection.
type Channel struct {
	cfg config
	now func() time.Time

	// offersTLS remembers, for a loopback host, whether the server offered
	// STARTTLS: 0 not yet known, 1 yes, 2 no.
	offersTLS int32

	mu     sync.Mutex
	closed bool
	idle   chan *conn
}

type config struct {
	name     string // provider.smtp.NAME, for errors
	host     string
	addr     string // host:port
	security security
	username string
	password string
	helo     string
	dkim     *dkim.SignOptions
	timeout  time.Duration
	pool     int
}

// Open reads the provider block of req, connects to the server once to
// check the configuration (TLS, AUTH), and returns the channel with that
// connection pooled.
func Open(ctx context.Context, req providers.ChannelRequest) (*Channel, error) {
	cfg, err := readConfig(req)
	if err != nil {
		return nil, err
	}
	ch := &Channel{cfg: cfg, now: time.Now, idle: make(chan *conn, cfg.pool)}
	c, err := ch.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: connecting to %s: %w", cfg.name, cfg.addr, err)
	}
	ch.put(c)
	return ch, nil
}

func readConfig(req providers.ChannelRequest) (config, error) {
	p := req.Provider
	if p == nil {
		return config{}, errors.New("smtp: channel request without a provider")
	}
	a := attrs{p}
	cfg := config{name: "provider." + p.Address()}
	var err error
	if cfg.host, err = a.str("host"); err != nil {
		return cfg, err
	}
	cfg.host = strings.TrimSpace(cfg.host)
	if cfg.host == "" {
		return cfg, fmt.Errorf("%s: no host: set host = \"smtp.example.com\"", cfg.name)
	}
	if strings.ContainsAny(cfg.host, " /:@") && net.ParseIP(strings.Trim(cfg.host, "[]")) == nil {
		return cfg, fmt.Errorf("%s: host %q is not a host name: write the name alone, with the port in port", cfg.name, cfg.host)
	}
	port, err := a.integer("port", defaultPort, 1, 65535)
	if err != nil {
		return cfg, err
	}
	cfg.addr = net.JoinHostPort(strings.Trim(cfg.host, "[]"), strconv.Itoa(port))
	mode, err := a.str("tls")
	if err != nil {
		return cfg, err
	}
	if cfg.security, err = policy(mode, cfg.host, port); err != nil {
		return cfg, fmt.Errorf("%s: %w", cfg.name, err)
	}
	if cfg.username, err = a.str("username"); err != nil {
		return cfg, err
	}
	if cfg.password, err = a.str("password"); err != nil {
		return cfg, err
	}
	switch {
	case cfg.username != "" && cfg.password == "":
		return cfg, fmt.Errorf("%s: username is set but password is not: set password = env(\"SMTP_PASSWORD\")", cfg.name)
	case cfg.username == "" && cfg.password != "":
		return cfg, fmt.Errorf("%s: password is set but username is not", cfg.name)
	}
	if cfg.helo, err = a.str("helo"); err != nil {
		return cfg, err
	}
	if cfg.helo == "" {
		cfg.helo = "localhost"
	} else if strings.ContainsAny(cfg.helo, " \t\r\n") {
		return cfg, fmt.Errorf("%s: helo %q is not a host name", cfg.name, cfg.helo)
	}
	if cfg.dkim, err = readDKIM(a, cfg.name); err != nil {
		return cfg, err
	}
	if cfg.timeout, err = a.duration("timeout", defaultTimeout); err != nil {
		return cfg, err
	}
	if cfg.pool, err = a.integer("concurrency", defaultPool, 1, 1000); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func readDKIM(a attrs, name string) (*dkim.SignOptions, error) {
	domain, err := a.str("dkim_domain")
	if err != nil {
		return nil, err
	}
	selector, err := a.str("dkim_selector")
	if err != nil {
		return nil, err
	}
	pemKey, err := a.str("dkim_private_key")
	if err != nil {
		return nil, err
	}
	if domain == "" && selector == "" && pemKey == "" {
		return nil, nil
	}
	if domain == "" || selector == "" || pemKey == "" {
		return nil, fmt.Errorf("%s: DKIM signing needs dkim_domain, dkim_selector and dkim_private_key together", name)
	}
	key, err := parseDKIMKey(pemKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return dkimOptions(domain, selector, key), nil
}

// Send delivers m. It builds the message (BuildMessage), signs it when
// DKIM is configured, and runs one SMTP transaction on a pooled
// connection; classify says how a failure maps to an outcome. Send does
// not retry: the executor does, after SendResult.RetryAfter.
func (ch *Channel) Send(ctx context.Context, m *providers.Message) providers.SendResult {
	if err := ctx.Err(); err != nil {
		return providers.SendResult{Outcome: providers.Retry, Err: err}
	}
	if m == nil {
		return providers.SendResult{Outcome: providers.Failed, Err: errors.New("smtp: no message")}
	}
	msg, err := BuildMessage(m, ch.now())
	if err == nil && ch.cfg.dkim != nil {
		msg, err = sign(ch.cfg.dkim, msg)
	}
	if err != nil {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("smtp: %w", err)}
	}
	for attempt := 0; ; attempt++ {
		c, err := ch.get(ctx)
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return classify(stageConnect, fmt.Errorf("connecting to %s: %w", ch.cfg.addr, err), m.To)
		}
		reply, st, err := c.send(ctx, m, msg)
		if err == nil {
			ch.put(c)
			id := providerID(reply)
			if id == "" {
				id = MessageID(m)
			}
			return providers.SendResult{Outcome: providers.Sent, ProviderMessageID: id}
		}
		var se *gosmtp.SMTPError
		var pe permanentError
		isReply := errors.As(err, &se) || errors.As(err, &pe)
		if !isReply || se != nil && se.Code == 421 || c.broken {
			c.close()
		} else {
			c.dirty = true
			ch.put(c)
		}
		if ctx.Err() != nil {
			return providers.SendResult{Outcome: providers.Retry, Err: fmt.Errorf("smtp %s: %w", st, ctx.Err())}
		}
		// A pooled connection that the server closed while it sat idle
		// fails on its first command, before anything was handed over:
		// open a new one and try once more.
		if c.reused && attempt == 0 && st == stageMail && !isReply {
			continue
		}
		return classify(st, err, m.To)
	}
}

// Close quits the pooled connections. Sends after Close fail with Retry.
func (ch *Channel) Close() error {
	ch.mu.Lock()
	ch.closed = true
	ch.mu.Unlock()
	for {
		select {
		case c := <-ch.idle:
			c.quit()
		default:
			return nil
		}
	}
}

// conn is one connection to the server, ready for MAIL FROM.
type conn struct {
	c       *gosmtp.Client
	nc      net.Conn // the network connection under c, closed to cancel
	timeout time.Duration
	last    time.Time // when it was last used
	sent    int
	reused  bool // taken from the pool rather than dialled for this send
	dirty   bool // the last transaction failed: RSET before the next
	broken  bool // closed under a command by a cancelled context
}

var errClosed = errors.New("the channel is closed")

// get returns a pooled connection or dials a new one.
func (ch *Channel) get(ctx context.Context) (*conn, error) {
	for {
		ch.mu.Lock()
		closed := ch.closed
		ch.mu.Unlock()
		if closed {
			return nil, errClosed
		}
		select {
		case c := <-ch.idle:
			if time.Since(c.last) > checkIdle {
				if err := c.c.Noop(); err != nil {
					c.close()
					continue
				}
			}
			c.reused = true
			return c, nil
		default:
			return ch.dial(ctx)
		}
	}
}

// put returns c to the pool, or quits it when the pool is full, the
// channel closed, or c has carried maxPerConn messages.
func (ch *Channel) put(c *conn) {
	c.last = time.Now()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !ch.closed && c.sent < maxPerConn {
		select {
		case ch.idle <- c:
			return
		default:
		}
	}
	go c.quit()
}

// dial connects, secures the connection as cfg.security says, and
// authenticates.
func (ch *Channel) dial(ctx context.Context) (*conn, error) {
	cfg := &ch.cfg
	dctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	sec := cfg.security
	if sec == opportunisticSTARTTLS {
		switch ch.loadOffersTLS() {
		case 1:
			sec = requireSTARTTLS
		case 2:
			sec = plainText
		}
	}

	d := &net.Dialer{}
	var nc net.Conn
	var err error
	if sec == implicitTLS {
		nc, err = (&tls.Dialer{NetDialer: d, Config: tlsConfig(cfg.host)}).DialContext(dctx, "tcp", cfg.addr)
	} else {
		nc, err = d.DialContext(dctx, "tcp", cfg.addr)
	}
	if err != nil {
		return nil, err
	}
	// Cancelling ctx (or the dial timeout) closes the connection, which
	// ends whatever command is waiting on it.
	stop := context.AfterFunc(dctx, func() { nc.Close() })
	defer stop()

	var c *gosmtp.Client
	switch sec {
	case requireSTARTTLS:
		c, err = gosmtp.NewClientStartTLS(nc, tlsConfig(cfg.host))
		if err != nil {
			nc.Close()
			var se *gosmtp.SMTPError
			var ne net.Error
			if !errors.As(err, &se) && !errors.As(err, &ne) && strings.Contains(err.Error(), "STARTTLS") {
				return nil, fmt.Errorf("the server does not offer STARTTLS, and herald will not send the password and the messages to %s in clear: use port 465 (implicit TLS) if the server has it", cfg.host)
			}
			return nil, err
		}
	case opportunisticSTARTTLS:
		// Only a loopback host gets here, once: ask the server whether it
		// offers STARTTLS and remember the answer.
		c = gosmtp.NewClient(nc)
		c.CommandTimeout, c.SubmissionTimeout = cfg.timeout, cfg.timeout
		if err := c.Hello(cfg.helo); err != nil {
			nc.Close()
			return nil, err
		}
		if ok, _ := c.Extension("STARTTLS"); ok {
			ch.storeOffersTLS(1)
			c.Quit()
			nc.Close()
			return ch.dial(ctx)
		}
		ch.storeOffersTLS(2)
		return ch.finish(dctx, c, nc, false)
	default:
		c = gosmtp.NewClient(nc)
	}
	c.CommandTimeout, c.SubmissionTimeout = cfg.timeout, cfg.timeout
	if err := c.Hello(cfg.helo); err != nil {
		nc.Close()
		return nil, err
	}
	return ch.finish(dctx, c, nc, sec != plainText)
}

// finish authenticates a greeted connection.
func (ch *Channel) finish(ctx context.Context, c *gosmtp.Client, nc net.Conn, secure bool) (*conn, error) {
	cfg := &ch.cfg
	if cfg.username != "" {
		if err := ch.auth(c, secure); err != nil {
			nc.Close()
			return nil, err
		}
	}
	if ctx.Err() != nil {
		nc.Close()
		return nil, ctx.Err()
	}
	return &conn{c: c, nc: nc, timeout: cfg.timeout, last: time.Now()}, nil
}

func (ch *Channel) auth(c *gosmtp.Client, secure bool) error {
	cfg := &ch.cfg
	if !secure && !isLoopback(cfg.host) {
		// policy never allows this; kept as a last line of defence.
		return errors.New("refusing to send the password without TLS")
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		return errors.New("username is set but the server does not offer AUTH")
	}
	var a sasl.Client
	switch {
	case c.SupportsAuth(sasl.Plain):
		a = sasl.NewPlainClient("", cfg.username, cfg.password)
	case c.SupportsAuth(sasl.Login):
		a = sasl.NewLoginClient(cfg.username, cfg.password)
	default:
		_, mechs := c.Extension("AUTH")
		return fmt.Errorf("the server offers AUTH %s; herald speaks PLAIN and LOGIN", mechs)
	}
	if err := c.Auth(a); err != nil {
		var se *gosmtp.SMTPError
		if errors.As(err, &se) {
			// The reply is the server's; it does not hold the password.
			return fmt.Errorf("authenticating as the configured username: %w", err)
		}
		return fmt.Errorf("authenticating: %w", err)
	}
	return nil
}

func (ch *Channel) loadOffersTLS() int32 {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.offersTLS
}

func (ch *Channel) storeOffersTLS(v int32) {
	ch.mu.Lock()
	ch.offersTLS = v
	ch.mu.Unlock()
}

// send runs one transaction: MAIL FROM, RCPT TO, DATA. It returns the
// server's reply to the final dot, or the stage that failed.
func (c *conn) send(ctx context.Context, m *providers.Message, msg []byte) (string, stage, error) {
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	defer func() {
		if !stop() {
			c.broken = true
		}
	}()
	if c.dirty {
		// RFC 5321 lets MAIL follow a completed transaction directly;
		// after a failed one, RSET clears what the server may hold.
		if err := c.c.Reset(); err != nil {
			return "", stageMail, err
		}
		c.dirty = false
	}
	c.sent++
	opts := &gosmtp.MailOptions{Size: int64(len(msg))}
	if !isASCII(m.From) || !isASCII(m.To) {
		if ok, _ := c.c.Extension("SMTPUTF8"); !ok {
			return "", stageMail, permanentError{errors.New("an address is not ASCII and the server does not offer SMTPUTF8")}
		}
		opts.UTF8 = true
	}
	if err := c.c.Mail(m.From, opts); err != nil {
		return "", stageMail, err
	}
	if err := c.c.Rcpt(m.To, nil); err != nil {
		return "", stageRcpt, err
	}
	w, err := c.c.Data()
	if err != nil {
		return "", stageData, err
	}
	// go-smtp bounds each command and the reply to the final dot, not
	// the writing of the message in between: a server that stops reading
	// must not hold the send for ever.
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return "", stageData, err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", stageData, err
	}
	return resp.StatusText, stageData, nil
}

func (c *conn) quit() {
	c.c.CommandTimeout = 5 * time.Second
	if err := c.c.Quit(); err != nil {
		c.c.Close()
	}
}

func (c *conn) close() { c.c.Close() }
