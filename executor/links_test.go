package executor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/executor/links"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

// auditing records audit records in memory when the backend cannot keep
// them yet, so that these tests do not depend on which runtime has landed.
type auditing struct {
	state.Backend
	mu   sync.Mutex
	recs []state.AuditRecord
}

func (a *auditing) AddAudit(ctx context.Context, recs []state.AuditRecord) error {
	a.mu.Lock()
	a.recs = append(a.recs, recs...)
	a.mu.Unlock()
	if err := a.Backend.AddAudit(ctx, recs); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}

// linksHandler is the handler herald run serves, over st, keyed as apply
// keys links.
func linksHandler(t *testing.T, cfg *lang.Config, st *auditing) http.Handler {
	t.Helper()
	key, err := linkKey(context.Background(), cfg, st, applyOpts(planNow).LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	return links.Handler(links.Options{
		Signer:      links.NewSigner(key, nil),
		Now:         func() time.Time { return planNow },
		Unsubscribe: links.UnsubscribeState(st, links.ChannelOf(cfg)),
		Engage:      links.EngageState(st, links.ChannelOf(cfg)),
		ChannelOf:   links.ChannelOf(cfg),
		Name:        cfg.Herald.Sender.Name,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// serve sends a request for a link of the public_url to h.
func serve(t *testing.T, h http.Handler, method, link, body string) *httptest.ResponseRecorder {
	t.Helper()
	path, ok := strings.CutPrefix(link, "https://herald.example.com")
	if !ok {
		t.Fatalf("%s is not a link of the public_url", link)
	}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestUnsubscribeLinkSuppresses: a recipient unsubscribes with the link of
// a message apply sent; the next plan leaves them out, and a plan made
// before another recipient unsubscribed skips that one at send time.
func TestUnsubscribeLinkSuppresses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sb string) {
		ctx := context.Background()
		name := fakeName()
		dir := smallProject(t, sb, name, 4, "")
		cfg, raw := load(t, dir)
		st := &auditing{Backend: raw}
		if _, err := Apply(ctx, cfg, st, makePlan(t, cfg, st, planNow), applyOpts(planNow)); err != nil {
			t.Fatal(err)
		}
		unsub := map[string]string{}
		for _, m := range fakeFor(name).messages() {
			lu := strings.Trim(m.Headers["List-Unsubscribe"], "<>")
			if lu == "" || m.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
				t.Fatalf("message to %s has no one-click unsubscribe: %v", m.CustomerID, m.Headers)
			}
			unsub[m.CustomerID] = lu
		}

		// A second campaign to the same customers.
		b, _ := os.ReadFile(filepath.Join(dir, "main.hcl"))
		s := string(b) + `campaign "promo2" {
  audience    = segment.all
  channel     = "email"
  via         = provider.testmail.` + name + `
  legal_basis = "consent"
  template    = template.a
}
`
		os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(s), 0o644)
		cfg2, diags := lang.Load(dir, lang.Options{})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		h := linksHandler(t, cfg2, st)

		// c0001 unsubscribes the RFC 8058 way, before the plan.
		if w := serve(t, h, "POST", unsub["c0001"], "List-Unsubscribe=One-Click"); w.Code != 200 {
			t.Fatalf("one-click unsubscribe = %d %s", w.Code, w.Body)
		}
		p2 := makePlan(t, cfg2, st, planNow)
		var planned []string
		for _, r := range recipients(p2, "campaign.promo2") {
			planned = append(planned, r.CustomerID)
		}
		if strings.Join(planned, ",") != "c0000,c0002,c0003" {
			t.Fatalf("promo2 plans %v, want c0001 left out as suppressed", planned)
		}

		// c0002 unsubscribes on the page, after the plan.
		w := serve(t, h, "GET", unsub["c0002"], "")
		if w.Code != 200 || !strings.Contains(w.Body.String(), `method="post"`) {
			t.Fatalf("unsubscribe page = %d %s", w.Code, w.Body)
		}
		if w := serve(t, h, "POST", unsub["c0002"], url.Values{"List-Unsubscribe": {"One-Click"}}.Encode()); w.Code != 200 {
			t.Fatalf("unsubscribe form = %d", w.Code)
		}
		res, err := Apply(ctx, cfg2, st, p2, applyOpts(planNow))
		if err != nil {
			t.Fatal(err)
		}
		var sent []string
		for _, m := range fakeFor(name).messages() {
			if m.Campaign == "campaign.promo2" {
				sent = append(sent, m.CustomerID)
			}
		}
		if strings.Join(sent, ",") != "c0000,c0003" {
			t.Errorf("promo2 sent to %v, want c0000,c0003", sent)
		}
		for _, c := range res.Campaigns {
			if c.Address == "campaign.promo2" && c.Counts.Skipped[SkipSuppressed] != 1 {
				t.Errorf("promo2 counts %+v, want one skipped as suppressed", c.Counts)
			}
		}
		supp, err := st.Suppressions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, s := range supp {
			got[s.CustomerID] = s.Channel + "/" + s.Reason
		}
		if got["c0001"] != "email/unsubscribe" || got["c0002"] != "email/unsubscribe" || len(got) != 2 {
			t.Errorf("suppressions %v", got)
		}
		var audited []string
		for _, a := range st.recs {
			if a.Kind == "unsubscribe" {
				audited = append(audited, a.CustomerID+" "+a.Subject)
			}
		}
		if strings.Join(audited, ",") != "c0001 campaign.promo,c0002 campaign.promo" {
			t.Errorf("audit %v", audited)
		}
	})
}

var (
	clickRE = regexp.MustCompile(`https://herald\.example\.com/c/[A-Za-z0-9_.-]+`)
	pixelRE = regexp.MustCompile(`<img src="(https://herald\.example\.com/o/[A-Za-z0-9_.-]+\.gif)" width="1" height="1"`)
)

// TestTrackedLinks: a campaign with track_clicks and track_opens sends
// links through public_url that redirect to the UTM-tagged original, and a
// pixel; the unsubscribe link is left as it is; clicks and opens are
// recorded with the customer id and nothing more.
func TestTrackedLinks(t *testing.T) {
	ctx := context.Background()
	name := fakeName()
	dir := smallProject(t, "", name, 2, "")
	b, _ := os.ReadFile(filepath.Join(dir, "main.hcl"))
	s := strings.Replace(string(b), "  utm {", "  track_clicks = true\n  track_opens  = true\n  utm {", 1)
	s = strings.Replace(s, "template = template.b", "template = template.a", 1)
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(s), 0o644)
	cfg, raw := load(t, dir)
	st := &auditing{Backend: raw}
	if _, err := Apply(ctx, cfg, st, makePlan(t, cfg, st, planNow), applyOpts(planNow)); err != nil {
		t.Fatal(err)
	}
	h := linksHandler(t, cfg, st)
	msgs := fakeFor(name).messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		if strings.Contains(m.HTML, `href="https://shop.example`) {
			t.Errorf("an untracked link in %s", m.HTML)
		}
		if !strings.Contains(m.HTML, `href="https://herald.example.com/u/`) {
			t.Errorf("the unsubscribe link was rewritten: %s", m.HTML)
		}
		if strings.Contains(m.HTML, "@example.com") {
			t.Errorf("an address in %s", m.HTML)
		}
		click := clickRE.FindString(m.HTML)
		w := serve(t, h, "GET", click, "")
		if w.Code != http.StatusFound {
			t.Fatalf("click %s = %d", click, w.Code)
		}
		loc, _ := url.Parse(w.Header().Get("Location"))
		q := loc.Query()
		if loc.Host != "shop.example" || loc.Path != "/x" || q.Get("a") != "1" || q.Get("b") != "2" ||
			q.Get("utm_source") != "herald" || q.Get("utm_campaign") != "promo" {
			t.Errorf("click goes to %s, want the original with its UTM", loc)
		}
		px := pixelRE.FindStringSubmatch(m.HTML)
		if px == nil || !strings.HasSuffix(m.HTML, "</p>"+px[0]+` alt="" style="display:block;border:0">`) {
			t.Fatalf("no pixel at the end of %s", m.HTML)
		}
		if w := serve(t, h, "GET", px[1], ""); w.Code != 200 || w.Header().Get("Content-Type") != "image/gif" {
			t.Errorf("pixel = %d", w.Code)
		}
	}
	var got []string
	for _, a := range st.recs {
		got = append(got, a.Kind+" "+a.CustomerID+" "+a.Subject+" "+a.Channel+" "+a.Detail)
	}
	want := "click c0000 campaign.promo email shop.example/x,open c0000 campaign.promo email ,click c0001 campaign.promo email shop.example/x,open c0001 campaign.promo email "
	if strings.Join(got, ",") != want {
		t.Errorf("engagement\n got %q\nwant %q", strings.Join(got, ","), want)
	}
}

// TestLinkKeyKeptInState: without HERALD_LINK_KEY, apply signs with a key
// the state keeps (or, while the state cannot keep values, the link.key
// beside it); a link.key herald made before is the key, so links already
// sent stay valid.
func TestLinkKeyKeptInState(t *testing.T) {
	ctx := context.Background()
	noEnv := env()
	dir := smallProject(t, "", fakeName(), 1, "")
	cfg, st := load(t, dir)
	k1, err := linkKey(ctx, cfg, st, noEnv)
	if err != nil || len(k1) < 32 {
		t.Fatalf("linkKey = %x, %v", k1, err)
	}
	k2, err := linkKey(ctx, cfg, st, noEnv)
	if err != nil || string(k2) != string(k1) {
		t.Fatalf("a second linkKey = %x, %v; want the same key", k2, err)
	}
	if k, _ := linkKey(ctx, cfg, st, env(links.EnvKey, "from-env")); string(k) != "from-env" {
		t.Errorf("HERALD_LINK_KEY does not win: %q", k)
	}

	dir = smallProject(t, "", fakeName(), 1, "")
	old := strings.Repeat("0123456789abcdef", 4)
	os.MkdirAll(filepath.Join(dir, ".herald"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, ".herald", "link.key"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, st = load(t, dir)
	if k, err := linkKey(ctx, cfg, st, noEnv); err != nil || string(k) != old {
		t.Fatalf("with a link.key from before: %q, %v; want that key", k, err)
	}
}
