package links

import (
	"regexp"
	"strings"
	"testing"
)

const base = "https://h.example"

// tokenRE finds the tokens of tracked links and pixels.
var tokenRE = regexp.MustCompile(`https://h\.example/([co])/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)`)

// untrack replaces each tracked link with {c:TARGET} and each pixel with
// {o}, checking every token on the way, so that tables can say where
// links went.
func untrack(t *testing.T, s *Signer, out string) string {
	t.Helper()
	return tokenRE.ReplaceAllStringFunc(out, func(m string) string {
		sub := tokenRE.FindStringSubmatch(m)
		switch sub[1] {
		case "c":
			camp, cust, target, ok := s.VerifyClick(sub[2])
			if !ok || camp != "campaign.x" || cust != "c1" {
				t.Errorf("click token %q does not verify (%q %q %v)", sub[2], camp, cust, ok)
			}
			return "{c:" + target + "}"
		default:
			camp, cust, ok := s.VerifyOpen(sub[2])
			if !ok || camp != "campaign.x" || cust != "c1" {
				t.Errorf("open token %q does not verify", sub[2])
			}
			return "{o}"
		}
	})
}

func TestRewriteHTML(t *testing.T) {
	s := NewSigner(testKey, nil)
	cases := []struct {
		name          string
		in            string
		clicks, opens bool
		want          string
	}{
		{"double quotes", `<a href="https://shop.example/x">x</a>`, true, false,
			`<a href="{c:https://shop.example/x}">x</a>`},
		{"single quotes", `<a class=b href='http://shop.example/x'>x</a>`, true, false,
			`<a class=b href='{c:http://shop.example/x}'>x</a>`},
		{"unquoted", `<a href=https://shop.example/x>x</a>`, true, false,
			`<a href="{c:https://shop.example/x}">x</a>`},
		{"entities are unescaped into the target", `<a href="https://shop.example/x?a=1&amp;b=2&amp;utm_source=herald">x</a>`, true, false,
			`<a href="{c:https://shop.example/x?a=1&b=2&utm_source=herald}">x</a>`},
		{"upper case", `<A HREF="HTTPS://shop.example/X">x</A>`, true, false,
			`<A HREF="{c:HTTPS://shop.example/X}">x</A>`},
		{"spaces around =", `<a href = "https://shop.example/x">x</a>`, true, false,
			`<a href = "{c:https://shop.example/x}">x</a>`},
		{"unsubscribe link left alone", `<a href="https://h.example/u/abc.def">unsubscribe</a>`, true, false,
			`<a href="https://h.example/u/abc.def">unsubscribe</a>`},
		{"mailto, tel, anchor, relative", `<a href="mailto:a@b.example">m</a><a href="tel:+15550100">t</a><a href="#top">a</a><a href="/x">r</a>`, true, false,
			`<a href="mailto:a@b.example">m</a><a href="tel:+15550100">t</a><a href="#top">a</a><a href="/x">r</a>`},
		{"link and base tags left alone", `<link rel="stylesheet" href="https://cdn.example/a.css"><base href="https://shop.example/">`, true, false,
			`<link rel="stylesheet" href="https://cdn.example/a.css"><base href="https://shop.example/">`},
		{"VML button", `<v:roundrect href="https://shop.example/b" arcsize="10%">`, true, false,
			`<v:roundrect href="{c:https://shop.example/b}" arcsize="10%">`},
		{"href in text is not a link", `<p>write href="https://shop.example/x" in your page</p>`, true, false,
			`<p>write href="https://shop.example/x" in your page</p>`},
		{"> in another attribute", `<a title="a > b" href="https://shop.example/x">x</a>`, true, false,
			`<a title="a > b" href="{c:https://shop.example/x}">x</a>`},
		{"data-href is not href", `<a data-href="https://shop.example/x">x</a>`, true, false,
			`<a data-href="https://shop.example/x">x</a>`},
		{"img src left alone", `<img src="https://cdn.example/i.png">`, true, false,
			`<img src="https://cdn.example/i.png">`},
		{"clicks off", `<a href="https://shop.example/x">x</a>`, false, false,
			`<a href="https://shop.example/x">x</a>`},
		{"pixel before body end", `<html><body><p>hi</p></body></html>`, false, true,
			`<html><body><p>hi</p><img src="{o}.gif" width="1" height="1" alt="" style="display:block;border:0"></body></html>`},
		{"pixel before the last body end", `<body>a</body>x</BODY >`, false, true,
			`<body>a</body>x<img src="{o}.gif" width="1" height="1" alt="" style="display:block;border:0"></BODY >`},
		{"pixel at the end without body", `<p>hi</p>`, false, true,
			`<p>hi</p><img src="{o}.gif" width="1" height="1" alt="" style="display:block;border:0">`},
		{"both", `<body><a href="https://shop.example/x">x</a></body>`, true, true,
			`<body><a href="{c:https://shop.example/x}">x</a><img src="{o}.gif" width="1" height="1" alt="" style="display:block;border:0"></body>`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := Rewrite(c.in, base, s, "campaign.x", "c1", c.clicks, c.opens)
			if got := untrack(t, s, out); got != c.want {
				t.Errorf("Rewrite(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestRewriteText(t *testing.T) {
	s := NewSigner(testKey, nil)
	cases := []struct{ in, want string }{
		{"See https://shop.example/x?a=1.", "See {c:https://shop.example/x?a=1}."},
		{"(https://shop.example/x) and http://b.example/", "({c:https://shop.example/x}) and {c:http://b.example/}"},
		{"Unsubscribe: https://h.example/u/abc.def", "Unsubscribe: https://h.example/u/abc.def"},
		{"no links here, Reply STOP to opt out", "no links here, Reply STOP to opt out"},
		{"mailto:a@b.example", "mailto:a@b.example"},
	}
	for _, c := range cases {
		if got := untrack(t, s, RewriteText(c.in, base, s, "campaign.x", "c1")); got != c.want {
			t.Errorf("RewriteText(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestRewriteWithoutSigner(t *testing.T) {
	in := `<a href="https://shop.example/x">x</a>`
	if got := Rewrite(in, base, nil, "campaign.x", "c1", true, true); got != in {
		t.Errorf("without a signer (no public_url) Rewrite changed the message: %q", got)
	}
	if got := Rewrite(in, "", NewSigner(testKey, nil), "campaign.x", "c1", true, true); got != in {
		t.Errorf("without a base Rewrite changed the message: %q", got)
	}
}

// TestRewriteNoPII: a tracked message's links carry the customer id and
// nothing else about the recipient.
func TestRewriteNoPII(t *testing.T) {
	s := NewSigner(testKey, nil)
	out := Rewrite(`<body><a href="https://shop.example/x">x</a></body>`, base, s, "campaign.x", "c1", true, true)
	for _, m := range tokenRE.FindAllStringSubmatch(out, -1) {
		p, _, _ := strings.Cut(m[2], ".")
		raw, err := enc.DecodeString(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "@") {
			t.Errorf("token payload %q holds an address", raw)
		}
	}
}
