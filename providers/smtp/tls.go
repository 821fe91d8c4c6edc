package smtp

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
)

// security is how a connection to the server is protected.
type security int

const (
	// implicitTLS: TLS from the first byte (port 465, "SMTPS").
	implicitTLS security = iota + 1
	// requireSTARTTLS: plain TCP upgraded with STARTTLS; a server that
	// does not offer it is refused, since the password and the messages
	// would otherwise cross the network in clear.
	requireSTARTTLS
	// opportunisticSTARTTLS: STARTTLS when the server offers it, plain
	// text when it does not. Only for a loopback host (a local Mailpit or
	// MailHog), where nothing crosses a network.
	opportunisticSTARTTLS
	// plainText: no TLS at all. Only for a loopback host.
	plainText
)

func (s security) String() string {
	switch s {
	case implicitTLS:
		return "implicit TLS"
	case requireSTARTTLS:
		return "STARTTLS (required)"
	case opportunisticSTARTTLS:
		return "STARTTLS when offered"
	case plainText:
		return "no TLS"
	}
	return fmt.Sprintf("security(%d)", int(s))
}

// policy decides how to connect to host:port from the tls attribute
// ("" when it is not set):
//
//	tls         loopback host              any other host
//	""          465: implicit TLS; else STARTTLS when offered / required
//	starttls    STARTTLS when offered      STARTTLS required
//	implicit    implicit TLS               implicit TLS
//	none        no TLS                     refused
//
// A loopback host is "localhost" (RFC 6761) or a literal loopback address
// (127.0.0.0/8, ::1); a name is never resolved to decide, so that a DNS
// answer cannot turn TLS off.
func policy(mode, host string, port int) (security, error) {
	loop := isLoopback(host)
	switch mode {
	case "":
		if port == 465 {
			return implicitTLS, nil
		}
		fallthrough
	case "starttls":
		if loop {
			return opportunisticSTARTTLS, nil
		}
		return requireSTARTTLS, nil
	case "implicit":
		return implicitTLS, nil
	case "none":
		if !loop {
			return 0, fmt.Errorf("tls = \"none\" would send the password and the messages to %s in clear: it is only allowed for a loopback host (localhost, 127.0.0.1, ::1); use tls = \"starttls\" or \"implicit\"", host)
		}
		return plainText, nil
	}
	return 0, fmt.Errorf("tls = %q: want \"starttls\", \"implicit\" or \"none\"", mode)
}

// isLoopback reports whether host is the loopback interface without
// looking it up.
func isLoopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback()
	}
	return false
}

// rootCAs is the pool of certificate authorities the client trusts: nil,
// the system's, except in tests, which set it to trust the self-signed
// certificate of their in-process server.
var rootCAs *x509.CertPool

func tlsConfig(host string) *tls.Config {
	return &tls.Config{
		ServerName: strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"),
		RootCAs:    rootCAs,
		MinVersion: tls.VersionTLS12,
	}
}
