package links

import (
	"html"
	"regexp"
	"strings"
)

// tagRE finds start tags, quoted attribute values included, so that a '>'
// inside a quoted value does not end the tag.
var tagRE = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9:-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>`)

// hrefRE finds an href attribute in a tag's attributes.
var hrefRE = regexp.MustCompile(`(?i)(\shref\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+)`)

// bodyEndRE finds the end of the body, where the open pixel goes.
var bodyEndRE = regexp.MustCompile(`(?i)</body\s*>`)

// textLinkRE finds http(s) links in plain text.
var textLinkRE = regexp.MustCompile(`https?://[^\s"'<>()]+`)

// Rewrite prepares the HTML of one message for tracking. With clicks,
// every http(s) link in an href attribute goes through base/c/TOKEN, which
// redirects to it; the unsubscribe link (base/u/…), links already through
// base, mailto:, tel: and #anchors are left alone, and so are <link> and
// <base>, which nobody clicks. With opens, a 1×1 pixel from base/o/TOKEN.gif
// is put before </body>, or at the end when there is none. base is the
// project's public_url.
func Rewrite(h string, base string, s *Signer, campaign, customer string, clicks, opens bool) string {
	if s == nil || base == "" {
		return h
	}
	base = strings.TrimSuffix(base, "/")
	if clicks {
		h = tagRE.ReplaceAllStringFunc(h, func(tag string) string {
			m := tagRE.FindStringSubmatch(tag)
			switch strings.ToLower(m[1]) {
			case "link", "base":
				return tag
			}
			attrs := hrefRE.ReplaceAllStringFunc(m[2], func(attr string) string {
				a := hrefRE.FindStringSubmatch(attr)
				val, quote := a[2], ""
				if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') {
					quote, val = val[:1], val[1:len(val)-1]
				}
				target := strings.TrimSpace(html.UnescapeString(val))
				if !tracked(target, base) {
					return attr
				}
				if quote == "" {
					quote = `"`
				}
				// The token is base64url: nothing in it needs escaping.
				return a[1] + quote + base + "/c/" + s.Click(campaign, customer, target) + quote
			})
			return "<" + m[1] + attrs + ">"
		})
	}
	if opens {
		pixel := `<img src="` + base + "/o/" + s.Open(campaign, customer) + `.gif" width="1" height="1" alt="" style="display:block;border:0">`
		if loc := bodyEndRE.FindAllStringIndex(h, -1); len(loc) > 0 {
			i := loc[len(loc)-1][0]
			h = h[:i] + pixel + h[i:]
		} else {
			h += pixel
		}
	}
	return h
}

// RewriteText sends the bare http(s) links of a plain-text part through
// base/c/TOKEN, as Rewrite does for HTML. Text has no pixel: opens are
// counted from HTML only.
func RewriteText(text string, base string, s *Signer, campaign, customer string) string {
	if s == nil || base == "" {
		return text
	}
	base = strings.TrimSuffix(base, "/")
	return textLinkRE.ReplaceAllStringFunc(text, func(link string) string {
		// Trailing punctuation of a sentence is not part of the link.
		trail := ""
		for len(link) > 0 && strings.ContainsRune(".,;:!?", rune(link[len(link)-1])) {
			trail = link[len(link)-1:] + trail
			link = link[:len(link)-1]
		}
		if !tracked(link, base) {
			return link + trail
		}
		return base + "/c/" + s.Click(campaign, customer, link) + trail
	})
}

// tracked says whether a link is one to send through the click redirect:
// an absolute http(s) link that is not herald's own.
func tracked(link, base string) bool {
	l := strings.ToLower(link)
	if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
		return false
	}
	// herald's own links — unsubscribe, an already tracked link — go
	// where they go: wrapping the unsubscribe link would hide it from
	// recipients' mail clients and from the List-Unsubscribe check.
	return !strings.HasPrefix(l, strings.ToLower(base)+"/")
}
