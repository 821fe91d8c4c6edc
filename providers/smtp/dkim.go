package smtp

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// parseDKIMKey reads a PEM private key: PKCS #8 ("PRIVATE KEY", RSA or
// Ed25519) or PKCS #1 ("RSA PRIVATE KEY"). A key kept in an environment
// variable on one line, with "\n" written out, is accepted too. Errors
// never quote the key.
func parseDKIMKey(s string) (crypto.Signer, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "\n") && strings.Contains(s, `\n`) {
		s = strings.ReplaceAll(s, `\n`, "\n")
	}
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("dkim_private_key is not a PEM private key (-----BEGIN PRIVATE KEY-----…)")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("dkim_private_key: the RSA PRIVATE KEY block cannot be read")
		}
		return checkRSA(k)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("dkim_private_key: the PRIVATE KEY block cannot be read")
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return checkRSA(k)
		case ed25519.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("dkim_private_key: a %T cannot sign DKIM: use an RSA or Ed25519 key", k)
	}
	return nil, fmt.Errorf("dkim_private_key: a PEM %q block is not a private key: use PRIVATE KEY (PKCS #8) or RSA PRIVATE KEY", block.Type)
}

// checkRSA refuses RSA keys shorter than 1024 bits, which receivers ignore
// (RFC 8301).
func checkRSA(k *rsa.PrivateKey) (crypto.Signer, error) {
	if k.N.BitLen() < 1024 {
		return nil, fmt.Errorf("dkim_private_key: a %d-bit RSA key is too short for DKIM: use 2048 bits", k.N.BitLen())
	}
	return k, nil
}

// dkimOptions are the signing options: relaxed canonicalisation of header
// and body, so that a relay that re-folds a header or trims trailing
// spaces does not break the signature, and every header BuildMessage
// wrote — From, Subject, Date, Message-ID, the MIME headers and
// List-Unsubscribe with List-Unsubscribe-Post, which RFC 8058 requires to
// be signed.
func dkimOptions(domain, selector string, key crypto.Signer) *dkim.SignOptions {
	return &dkim.SignOptions{
		Domain:                 domain,
		Selector:               selector,
		Signer:                 key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
	}
}

// sign returns msg with a DKIM-Signature header in front.
func sign(opts *dkim.SignOptions, msg []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(msg) + 512)
	if err := dkim.Sign(&out, bytes.NewReader(msg), opts); err != nil {
		return nil, fmt.Errorf("dkim signing: %w", err)
	}
	return out.Bytes(), nil
}
