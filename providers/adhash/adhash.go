// Package adhash normalises customer identifiers and hashes them with
// SHA-256 the way each ad platform documents, so that an audience sync
// sends the platform only hashes it can match, and a phone number that a
// channel sends to is in E.164.
//
// The rules, as each platform documents them:
//
//   - Google (Customer Match, through the Google Ads API or the Data
//     Manager API): e-mail trimmed of all whitespace (leading, trailing
//     and inside) and lower-cased; for gmail.com and googlemail.com, the
//     dots before the @ removed and a "+" with everything after it up to
//     the @ removed ("cloudy.sanfrancisco+shopping@gmail.com" is
//     "cloudysanfrancisco@gmail.com"), other domains kept as they are
//     ("user.name+NYC@Example.com" is "user.name+nyc@example.com"). Phone
//     in E.164, with the "+" and the country code ("(800)555-0100" in the
//     US is "+18005550100"). Some older Google guides (Campaign
//     Manager 360 enhanced conversions) strip only the Gmail dots; the
//     Data Manager API's rules, which also strip the "+suffix", are the
//     newer and are followed here.
//   - Meta (Custom Audiences, Conversions API): e-mail trimmed and
//     lower-cased, nothing else. Phone: symbols, letters and leading
//     zeros removed, the country code always included, no "+"
//     ("(650)555-1212" in the US is "16505551212").
//   - LinkedIn (DMP segment users, SHA256_EMAIL): the SHA-256 of the
//     e-mail address, trimmed and lower-cased.
//
// Hash is the lower-case hex SHA-256 every platform takes.
package adhash

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// ErrPhone is the error of a phone number that cannot be normalised. The
// errors that wrap it do not quote the number: it is personal data.
var ErrPhone = errors.New("not a valid phone number")

// Hash is the lower-case hex SHA-256 of a normalised identifier.
func Hash(normalised string) string {
	sum := sha256.Sum256([]byte(normalised))
	return hex.EncodeToString(sum[:])
}

// NormalizePhone returns raw in E.164 ("+14155552671"). A number that
// starts with "+" carries its country code; any other is read as a
// national number of defaultRegion (an ISO 3166-1 alpha-2 code such as
// "US" or "GB"), and without a defaultRegion it is refused. A number that
// is not a valid number of its country is refused too. The errors wrap
// ErrPhone.
func NormalizePhone(raw, defaultRegion string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("%w: it is empty", ErrPhone)
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if !strings.HasPrefix(s, "+") && region == "" {
		return "", fmt.Errorf("%w: it has no country code (write it in E.164, starting with +)", ErrPhone)
	}
	if region == "" {
		region = "ZZ" // unknown region: the number must carry its country code
	}
	n, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrPhone, err)
	}
	if !phonenumbers.IsValidNumber(n) {
		return "", fmt.Errorf("%w: no such number in its country's numbering plan", ErrPhone)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// GoogleEmail normalises an e-mail address for Google Customer Match:
// all whitespace removed, lower-cased, and for gmail.com and
// googlemail.com the dots and any "+suffix" of the local part removed.
func GoogleEmail(s string) string {
	s = strings.ToLower(removeSpace(s))
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	local, domain := s[:at], s[at+1:]
	if domain == "gmail.com" || domain == "googlemail.com" {
		if plus := strings.IndexByte(local, '+'); plus >= 0 {
			local = local[:plus]
		}
		local = strings.ReplaceAll(local, ".", "")
	}
	return local + "@" + domain
}

// GooglePhone normalises a phone number for Google Customer Match: E.164,
// with the "+" and the country code. region is the default region of a
// number written without a country code (see NormalizePhone).
func GooglePhone(s, region string) (string, error) {
	return NormalizePhone(s, region)
}

// MetaEmail normalises an e-mail address for Meta: trimmed and
// lower-cased.
func MetaEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// MetaPhone normalises a phone number for Meta: digits only, the country
// code first, no "+" and no leading zeros. region is the default region
// of a number written without a country code (see NormalizePhone): Meta
// asks for the country code even when every number is from one country.
func MetaPhone(s, region string) (string, error) {
	e164, err := NormalizePhone(s, region)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(e164, "+"), nil
}

// LinkedInEmail normalises an e-mail address for LinkedIn: trimmed and
// lower-cased.
func LinkedInEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

func removeSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}
