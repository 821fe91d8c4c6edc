package executor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/heraldhq/herald/state"
)

// smtpSink is a real SMTP server (go-smtp) on a loopback port that keeps
// what it receives.
type smtpSink struct {
	mu   sync.Mutex
	msgs []*mail.Message
	port int
}

func newSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	s := &smtpSink{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "mx.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// to lists the recipients of what the server received, in order.
func (s *smtpSink) to() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		out = append(out, m.Header.Get("To"))
	}
	return out
}

func (s *smtpSink) message(to string) *mail.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if strings.Contains(m.Header.Get("To"), to) {
			return m
		}
	}
	return nil
}

type sinkSession struct{ s *smtpSink }

func (ss *sinkSession) Reset()                                 {}
func (ss *sinkSession) Logout() error                          { return nil }
func (ss *sinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (ss *sinkSession) AuthMechanisms() []string               { return nil }
func (ss *sinkSession) Auth(string) (gosmtp.AuthSession, error) {
	return nil, gosmtp.ErrAuthUnsupported
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, m)
	ss.s.mu.Unlock()
	return nil
}

// e2eProject is the cart journey with e-mail through SMTP to sink and
// SMS to a JSONL outbox.
func e2eProject(t *testing.T, stateBlock string, sink *smtpSink) string {
	dir := journeyProject(t, stateBlock, "unused_e2e")
	b, err := os.ReadFile(filepath.Join(dir, "main.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	src = strings.Replace(src, `provider "testmail" "unused_e2e" {}`, fmt.Sprintf(`provider "smtp" "mail" {
  host = "127.0.0.1"
  port = %d
  tls  = "none"
}`, sink.port), 1)
	src = strings.Replace(src, `provider "testmail" "unused_e2e_sms" {}`, `provider "outbox" "sms" {
  dir    = "outbox-sms"
  format = "jsonl"
}`, 1)
	src = strings.ReplaceAll(src, "provider.testmail.unused_e2e_sms", "provider.outbox.sms")
	src = strings.ReplaceAll(src, "provider.testmail.unused_e2e", "provider.smtp.mail")
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRunnerEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, stateBlock string) {
		ctx := context.Background()
		sink := newSMTPSink(t)
		dir := e2eProject(t, stateBlock, sink)
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		_, st := applyProject(t, dir, t0)
		clock := &testClock{t: t0}
		r := NewRunner(st, RunOptions{Dir: dir, Now: clock.Now, LookupEnv: func(k string) (string, bool) {
			switch k {
			case "HERALD_WRITE_KEY":
				return "wk-test", true
			case "HERALD_LINK_KEY":
				return "link-key-test", true
			}
			return os.LookupEnv(k)
		}})
		// The first run starts the tailer at the end of the file: history
		// already there is not replayed.
		appendEvents(t, dir, `{"id":"old1","customer_id":"c2","type":"page_view","path":"/cart","at":"2026-12-01T09:00:00Z"}`,
			`{"id":"old2","customer_id":"c2","type":"page_view","path":"/cart","at":"2026-12-01T09:01:00Z"}`,
			`{"id":"old3","customer_id":"c2","type":"page_view","path":"/cart","at":"2026-12-01T09:02:00Z"}`)
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(r.Handler())
		defer srv.Close()

		// c1: two cart views over HTTP, the third appended to the file.
		post(t, srv.URL+"/v1/batch", "wk-test", `{"batch":[
			{"type":"track","userId":"c1","event":"page_view","properties":{"path":"/cart"},"timestamp":"2026-12-01T10:01:00Z","messageId":"m1"},
			{"type":"track","userId":"c1","event":"page_view","properties":{"path":"/cart"},"timestamp":"2026-12-01T10:02:00Z","messageId":"m2"}]}`, 200)
		appendEvents(t, dir, `{"id":"f1","customer_id":"c1","type":"page_view","path":"/cart/checkout","at":"2026-12-01T10:03:00Z"}`,
			// c3: three views in the file, and a purchase over HTTP later.
			`{"id":"f2","customer_id":"c3","type":"page_view","path":"/cart","at":"2026-12-01T10:01:00Z"}`,
			`{"id":"f3","customer_id":"c3","type":"page_view","path":"/cart","at":"2026-12-01T10:02:00Z"}`,
			`{"id":"f4","customer_id":"c3","type":"page_view","path":"/cart","at":"2026-12-01T10:03:00Z"}`,
			`not json at all`,
			`{"id":"f5","customer_id":"c2","type":"page_view","path":"/cart","at":"yesterday"}`)
		// Bad events are refused with a 4xx, and the runner goes on.
		post(t, srv.URL+"/v1/track", "wk-test", `{"userId": "c1", "event": `, 400)
		post(t, srv.URL+"/v1/track", "wk-test", `{"userId":"nobody","event":"page_view","properties":{"path":"/cart"},"messageId":"x1"}`, 422)
		post(t, srv.URL+"/v1/track", "wk-test", `{"userId":"c1","event":"page_view","properties":{"path":"/cart"},"timestamp":"last tuesday","messageId":"x2"}`, 400)
		post(t, srv.URL+"/v1/track", "wrong-key", `{"userId":"c1","event":"page_view","messageId":"x3"}`, 401)
		post(t, srv.URL+"/v1/batch", "wk-test", `{"batch":[`+strings.Repeat(`{"type":"track","userId":"c1","event":"x","properties":{"pad":"`+strings.Repeat("x", 1000)+`"}},`, 600)+`{}]}`, 413)
		clock.Set(t0.Add(5 * time.Minute))
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(journeysByCustomer(t, st, state.JourneyActive), ","); got != "c1,c3" {
			t.Fatalf("active journeys: %q, want c1,c3 (c2's history is not replayed)", got)
		}
		// An hour after: the e-mails, through SMTP.
		clock.Set(t0.Add(65 * time.Minute))
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(sink.to(), ","); !strings.Contains(got, "c1@example.com") || !strings.Contains(got, "c3@example.com") || len(sink.to()) != 2 {
			t.Fatalf("SMTP received mail to %q, want c1 and c3", got)
		}
		// c3 buys: the journey exits before the SMS.
		post(t, srv.URL+"/v1/track", "wk-test", `{"userId":"c3","event":"purchase","properties":{"path":"/cart/checkout"},"timestamp":"2026-12-01T11:30:00Z","messageId":"m3"}`, 200)
		clock.Set(t0.Add(65*time.Minute + 24*time.Hour + time.Minute))
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
		sms := readFileString(t, filepath.Join(dir, "outbox-sms"))
		if !strings.Contains(sms, `"c1"`) || strings.Contains(sms, `"c3"`) {
			t.Fatalf("the SMS outbox should hold c1's message only:\n%s", sms)
		}
		// c1 unsubscribes with one click from the e-mail's header.
		m := sink.message("c1@example.com")
		lu := m.Header.Get("List-Unsubscribe")
		u := regexp.MustCompile(`/u/[^>]+`).FindString(lu)
		if u == "" {
			t.Fatalf("no unsubscribe link in List-Unsubscribe: %q", lu)
		}
		resp, err := http.Post(srv.URL+u, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("one-click unsubscribe: %s", resp.Status)
		}
		// Four days later c1 is back in the cart: a new journey, but the
		// e-mail is refused.
		t4 := t0.Add(4 * 24 * time.Hour)
		clock.Set(t4)
		post(t, srv.URL+"/v1/batch", "wk-test", fmt.Sprintf(`{"batch":[
			{"type":"track","userId":"c1","event":"page_view","properties":{"path":"/cart"},"timestamp":%q,"messageId":"m4"},
			{"type":"track","userId":"c1","event":"page_view","properties":{"path":"/cart"},"timestamp":%q,"messageId":"m5"},
			{"type":"track","userId":"c1","event":"page_view","properties":{"path":"/cart"},"timestamp":%q,"messageId":"m6"}]}`,
			t4.Add(-3*time.Minute).Format(time.RFC3339), t4.Add(-2*time.Minute).Format(time.RFC3339), t4.Add(-time.Minute).Format(time.RFC3339)), 200)
		clock.Set(t4.Add(2 * time.Hour))
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(sink.to()); n != 2 {
			t.Fatalf("SMTP received %d messages after c1 unsubscribed, want still 2", n)
		}
		var refused bool
		_ = st.Sends(ctx, "trigger.cart_abandon", func(s state.Send) error {
			if s.CustomerID == "c1" && s.Status == state.SendSkipped && s.Error == SkipSuppressed {
				refused = true
			}
			return nil
		})
		if !refused {
			t.Fatal("the ledger has no send to c1 skipped as suppressed after the unsubscribe")
		}
		// Metrics count what came in and what was refused.
		body := get(t, srv.URL+"/metrics")
		for _, want := range []string{`herald_events_rejected_total{reason="unknown_customer",source="http"} 1`, `herald_journeys_started_total{trigger="trigger.cart_abandon"} 3`,
			`herald_sends_total{outcome="sent",provider="provider.smtp.mail"} 2`, `herald_journeys{status="exited",step="escalate",trigger="trigger.cart_abandon"} 1`} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if got := get(t, srv.URL+"/readyz"); !strings.Contains(got, "ready") {
			t.Errorf("/readyz = %q", got)
		}
	})
}

func appendEvents(t *testing.T, dir string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "data", "events.jsonl"), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func post(t *testing.T, url, key, body string, want int) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.SetBasicAuth(key, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %s %s, want %d", url, resp.Status, b, want)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// readFileString returns every file under dir, concatenated.
func readFileString(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(p)
			b.Write(data)
		}
		return nil
	})
	return b.String()
}
