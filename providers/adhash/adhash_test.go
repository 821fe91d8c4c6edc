package adhash

import (
	"errors"
	"testing"
)

// Meta's Conversions API documentation ("Customer information
// parameters") gives these inputs, their normal forms and their SHA-256:
// the e-mail and phone rules are the same for Custom Audiences.
func TestMetaDocumentedExamples(t *testing.T) {
	if got, want := MetaEmail("  John_Smith@gmail.com "), "john_smith@gmail.com"; got != want {
		t.Errorf("MetaEmail = %q, want %q", got, want)
	}
	if got, want := Hash(MetaEmail("John_Smith@gmail.com")), "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"; got != want {
		t.Errorf("hash of the documented e-mail = %s, want %s", got, want)
	}
	ph, err := MetaPhone("(650)555-1212", "US")
	if err != nil {
		t.Fatal(err)
	}
	if want := "16505551212"; ph != want {
		t.Errorf("MetaPhone = %q, want %q", ph, want)
	}
	if got, want := Hash(ph), "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"; got != want {
		t.Errorf("hash of the documented phone = %s, want %s", got, want)
	}
}

func TestMetaPhone(t *testing.T) {
	for _, c := range []struct{ in, region, want string }{
		{"+1 (650) 555-1212", "", "16505551212"}, // the "+" and symbols go
		{"+44 20 7183 8750", "", "442071838750"},
		{"020 7183 8750", "GB", "442071838750"}, // the national leading zero goes, the country code comes
		{"0044 20 7183 8750", "GB", "442071838750"},
	} {
		got, err := MetaPhone(c.in, c.region)
		if err != nil || got != c.want {
			t.Errorf("MetaPhone(%q, %q) = %q, %v, want %q", c.in, c.region, got, err, c.want)
		}
	}
}

// Google documents normal forms but no hash of them: the hashes below
// are crypto/sha256 of the documented normal forms, and pin that Hash is
// lower-case hex of the UTF-8 bytes.
func TestGoogle(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// Data Manager API, "Format user data": gmail.com loses the dots
		// and the "+suffix" of the local part ...
		{"cloudy.sanfrancisco+shopping@gmail.com", "cloudysanfrancisco@gmail.com"},
		// ... and so does googlemail.com ...
		{" Cloudy.SanFrancisco@GoogleMail.com ", "cloudysanfrancisco@googlemail.com"},
		// ... but other domains keep both, lower-cased.
		{"user.name+NYC@Example.com", "user.name+nyc@example.com"},
		// Leading, trailing and intermediate whitespace is removed.
		{"\tjane .doe@example.com \n", "jane.doe@example.com"},
		// A domain that merely ends in gmail.com is not Gmail.
		{"a.b@notgmail.com", "a.b@notgmail.com"},
	} {
		if got := GoogleEmail(c.in); got != c.want {
			t.Errorf("GoogleEmail(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got, want := Hash(GoogleEmail("cloudy.sanfrancisco+shopping@gmail.com")), "223ebda6f6889b1494551ba902d9d381daf2f642bae055888e96343d53e9f9c4"; got != want {
		t.Errorf("hash = %s, want %s", got, want)
	}
	// "the US phone number (800)555-0100 must be formatted and normalized
	// as +18005550100".
	ph, err := GooglePhone("(800)555-0100", "US")
	if err != nil || ph != "+18005550100" {
		t.Errorf("GooglePhone = %q, %v, want +18005550100", ph, err)
	}
}

// LinkedIn documents the SHA-256 of the trimmed, lower-cased address but
// gives no example of an address and its digest. This digest of
// "jane.doe@example.com" was computed outside Go (coreutils sha256sum,
// Python hashlib), so it does not check crypto/sha256 against itself.
func TestLinkedIn(t *testing.T) {
	if got, want := LinkedInEmail("  Jane.Doe@Example.COM "), "jane.doe@example.com"; got != want {
		t.Errorf("LinkedInEmail = %q, want %q", got, want)
	}
	if got, want := Hash(LinkedInEmail("Jane.Doe@Example.COM")), "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"; got != want {
		t.Errorf("hash = %s, want %s", got, want)
	}
}

func TestNormalizePhone(t *testing.T) {
	for _, c := range []struct{ in, region, want string }{
		{"+14155552671", "", "+14155552671"},
		{" +1 415-555-2671 ", "", "+14155552671"},
		{"(415) 555-2671", "us", "+14155552671"},
		{"07911 123456", "GB", "+447911123456"},
		{"+447911123456", "US", "+447911123456"}, // the number's own country code wins
	} {
		got, err := NormalizePhone(c.in, c.region)
		if err != nil || got != c.want {
			t.Errorf("NormalizePhone(%q, %q) = %q, %v, want %q", c.in, c.region, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, region string }{
		{"", "US"},
		{"4155552671", ""}, // no country code, no region
		{"not a number", "US"},
		{"+1 555", ""},       // too short
		{"+999 1234567", ""}, // no such country code
	} {
		got, err := NormalizePhone(c.in, c.region)
		if !errors.Is(err, ErrPhone) {
			t.Errorf("NormalizePhone(%q, %q) = %q, %v, want ErrPhone", c.in, c.region, got, err)
		}
	}
}
