package inbound

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/lang"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const testKey = "wk_test"

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

type segCase struct {
	name    string
	opts    func(o *SegmentOptions)
	method  string // POST when empty
	path    string
	body    string
	header  map[string]string
	noAuth  bool
	user    string // basic-auth username; testKey when empty
	status  int
	want    []string       // substrings of the response body
	reasons map[string]int // OnReject calls
	check   func(t *testing.T, evs []Event, resp map[string]any)
}

func TestSegmentHandler(t *testing.T) {
	srcs := loadSources(t, "")
	big := `{"userId":"c1","event":"page_view","properties":{"path":"` + strings.Repeat("x", DefaultMaxEventBytes) + `"}}`
	cases := []segCase{
		{
			name: "track",
			path: "/v1/track",
			body: `{"type":"track","userId":"c1","event":"page_view","messageId":"m-1","timestamp":"2026-11-26T10:00:00.123Z",
				"properties":{"path":"/cart/1","amount":12.5,"qty":"3","tags":["a","b"],"unknown":{"x":1},"type":"product","customer_id":"other"},
				"context":{"ip":"127.0.0.1"}}`,
			status: 200,
			want:   []string{`"success":true`, `"accepted":1`},
			check: func(t *testing.T, evs []Event, _ map[string]any) {
				if len(evs) != 1 {
					t.Fatalf("got %d events, want 1", len(evs))
				}
				ev := evs[0]
				wantAt := time.Date(2026, 11, 26, 10, 0, 0, 123e6, time.UTC)
				if ev.Source != "source.events" || ev.ID != "m-1" || ev.CustomerID != "c1" || ev.Type != "page_view" || !ev.Time.Equal(wantAt) {
					t.Errorf("event = %+v", ev)
				}
				for field, want := range map[string]any{
					"id": "m-1", "customer_id": "c1", "type": "page_view", "path": "/cart/1", "at": wantAt,
					"amount": 12.5, "qty": int64(3), "tags": []any{"a", "b"},
				} {
					if got, _ := ev.Record.Field(field); !reflect.DeepEqual(got, want) {
						t.Errorf("%s = %#v, want %#v", field, got, want)
					}
				}
			},
		},
		{
			name:   "track without timestamp gets the clock's time",
			path:   "/v1/track",
			body:   `{"userId":"c1","event":"page_view"}`,
			status: 200,
			check: func(t *testing.T, evs []Event, _ map[string]any) {
				if !evs[0].Time.Equal(testNow) {
					t.Errorf("time = %v, want %v", evs[0].Time, testNow)
				}
				if !strings.HasPrefix(evs[0].ID, "seg-") {
					t.Errorf("id = %q, want one derived from the message", evs[0].ID)
				}
			},
		},
		{
			name:   "sender clock skew is corrected",
			path:   "/v1/track",
			body:   `{"userId":"c1","event":"page_view","originalTimestamp":"2026-11-26T09:00:00Z","sentAt":"2026-11-26T09:00:10Z"}`,
			status: 200,
			check: func(t *testing.T, evs []Event, _ map[string]any) {
				if want := testNow.Add(-10 * time.Second); !evs[0].Time.Equal(want) {
					t.Errorf("time = %v, want %v", evs[0].Time, want)
				}
			},
		},
		{
			name:   "numeric userId",
			path:   "/v1/track",
			body:   `{"userId":42,"event":"page_view"}`,
			status: 200,
			check: func(t *testing.T, evs []Event, _ map[string]any) {
				if evs[0].CustomerID != "42" {
					t.Errorf("customer = %q", evs[0].CustomerID)
				}
			},
		},
		{
			name:   "gzip body",
			path:   "/v1/track",
			header: map[string]string{"Content-Encoding": "gzip"},
			body:   gz(`{"userId":"c1","event":"page_view"}`),
			status: 200,
		},
		{
			name: "batch accepts the good and counts the bad",
			path: "/v1/batch",
			body: `{"batch":[
				{"type":"track","userId":"c1","event":"page_view","messageId":"a"},
				{"type":"track","userId":"c2","event":"page_view","properties":{"qty":"many"}},
				{"type":"track","event":"page_view"},
				{"type":"identify","userId":"c1","traits":{"email":"x@example.com"}},
				{"userId":"c1","event":"page_view"},
				` + big + `,
				7,
				{"type":"track","userId":"c3","event":"purchase","messageId":"b","timestamp":"2026-11-25T08:00:00Z"}
			],"sentAt":"2026-11-26T12:00:00Z"}`,
			status:  200,
			want:    []string{`"accepted":2`, `"rejected":5`, `"ignored":1`, `properties.qty`, `"userId\" is missing`, `"type\" is missing`},
			reasons: map[string]int{ReasonInvalid: 3, ReasonTooLarge: 1, ReasonMalformed: 1},
			check: func(t *testing.T, evs []Event, resp map[string]any) {
				if len(evs) != 2 || evs[0].ID != "a" || evs[1].ID != "b" || evs[1].Type != "purchase" {
					t.Errorf("events = %+v", evs)
				}
				errs, _ := resp["errors"].([]any)
				var idx []float64
				for _, e := range errs {
					idx = append(idx, e.(map[string]any)["index"].(float64))
				}
				if !reflect.DeepEqual(idx, []float64{1, 2, 4, 5, 6}) {
					t.Errorf("error indexes = %v", idx)
				}
			},
		},
		{
			name:    "batch of only bad messages is still 200",
			path:    "/v1/batch",
			body:    `{"batch":[{"type":"track","userId":"c1"}]}`,
			status:  200,
			want:    []string{`"accepted":0`, `"rejected":1`, `"event\" is missing`},
			reasons: map[string]int{ReasonInvalid: 1},
		},
		{
			name:    "malformed JSON",
			path:    "/v1/track",
			body:    `{"userId":"c1",`,
			status:  400,
			want:    []string{`"error":`, "not a JSON object"},
			reasons: map[string]int{ReasonMalformed: 1},
		},
		{
			name:    "batch body without a batch",
			path:    "/v1/batch",
			body:    `{"type":"track","userId":"c1","event":"x"}`,
			status:  400,
			want:    []string{`no \"batch\" list`},
			reasons: map[string]int{ReasonMalformed: 1},
		},
		{
			name:    "missing userId",
			path:    "/v1/track",
			body:    `{"anonymousId":"a1","event":"page_view"}`,
			status:  400,
			want:    []string{`\"userId\" is missing`, "anonymous"},
			reasons: map[string]int{ReasonInvalid: 1},
		},
		{
			name:    "missing event",
			path:    "/v1/track",
			body:    `{"userId":"c1"}`,
			status:  400,
			want:    []string{`\"event\" is missing`},
			reasons: map[string]int{ReasonInvalid: 1},
		},
		{
			name:    "wrong property type",
			path:    "/v1/track",
			body:    `{"userId":"c1","event":"page_view","properties":{"amount":"cheap"}}`,
			status:  400,
			want:    []string{"properties.amount", "is not a double"},
			reasons: map[string]int{ReasonInvalid: 1},
		},
		{
			name:    "properties not an object",
			path:    "/v1/track",
			body:    `{"userId":"c1","event":"page_view","properties":[1]}`,
			status:  400,
			want:    []string{`\"properties\" is not a JSON object`},
			reasons: map[string]int{ReasonInvalid: 1},
		},
		{
			name:    "bad timestamp",
			path:    "/v1/track",
			body:    `{"userId":"c1","event":"page_view","timestamp":"yesterday"}`,
			status:  400,
			want:    []string{`\"timestamp\" is not an ISO-8601 time`},
			reasons: map[string]int{ReasonInvalid: 1},
		},
		{
			name:    "track of another type",
			path:    "/v1/track",
			body:    `{"type":"identify","userId":"c1","event":"page_view"}`,
			status:  400,
			want:    []string{`/v1/track takes track events`},
			reasons: map[string]int{ReasonInvalid: 1},
		},
		{
			name:    "unknown customer",
			opts:    func(o *SegmentOptions) { o.Known = knownOnly("c1") },
			path:    "/v1/track",
			body:    `{"userId":"nobody","event":"page_view"}`,
			status:  422,
			want:    []string{"unknown customer"},
			reasons: map[string]int{ReasonUnknownCustomer: 1},
		},
		{
			name:    "unknown customer in a batch",
			opts:    func(o *SegmentOptions) { o.Known = knownOnly("c1") },
			path:    "/v1/batch",
			body:    `{"batch":[{"type":"track","userId":"c1","event":"a"},{"type":"track","userId":"nobody","event":"a"},{"type":"track","userId":"nobody","event":"b"}]}`,
			status:  200,
			want:    []string{`"accepted":1`, `"rejected":2`, `"reason":"unknown_customer"`},
			reasons: map[string]int{ReasonUnknownCustomer: 2},
		},
		{
			name: "Known failing is 503",
			opts: func(o *SegmentOptions) {
				o.Known = func(context.Context, string) (bool, error) { return false, errors.New("db down") }
			},
			path:    "/v1/track",
			body:    `{"userId":"c1","event":"page_view"}`,
			status:  503,
			reasons: map[string]int{ReasonUnavailable: 1},
		},
		{
			name:    "track body over 32 KB",
			path:    "/v1/track",
			body:    big,
			status:  413,
			want:    []string{"over the limit"},
			reasons: map[string]int{ReasonTooLarge: 1},
		},
		{
			name:    "batch body over its limit",
			opts:    func(o *SegmentOptions) { o.MaxBatchBytes = 100 },
			path:    "/v1/batch",
			body:    `{"batch":[{"type":"track","userId":"c1","event":"page_view","properties":{"path":"/a/long/path/to/go/over"}}]}`,
			status:  413,
			reasons: map[string]int{ReasonTooLarge: 1},
		},
		{
			name:    "gzip body over the limit once inflated",
			opts:    func(o *SegmentOptions) { o.MaxEventBytes = 1000 },
			path:    "/v1/track",
			header:  map[string]string{"Content-Encoding": "gzip"},
			body:    gz(`{"userId":"c1","event":"page_view","properties":{"path":"` + strings.Repeat("a", 5000) + `"}}`),
			status:  413,
			reasons: map[string]int{ReasonTooLarge: 1},
		},
		{
			name:    "wrong method",
			method:  http.MethodGet,
			path:    "/v1/track",
			status:  405,
			reasons: map[string]int{ReasonBadRequest: 1},
		},
		{
			name:    "unknown path",
			path:    "/v1/identify",
			body:    `{}`,
			status:  404,
			reasons: map[string]int{ReasonBadRequest: 1},
		},
		{
			name:    "no auth",
			path:    "/v1/track",
			noAuth:  true,
			body:    `{"userId":"c1","event":"page_view"}`,
			status:  401,
			reasons: map[string]int{ReasonUnauthorized: 1},
		},
		{
			name:    "wrong key",
			path:    "/v1/track",
			user:    "wk_wrong",
			body:    `{"userId":"c1","event":"page_view"}`,
			status:  401,
			want:    []string{"wrong write key"},
			reasons: map[string]int{ReasonUnauthorized: 1},
		},
		{
			name:    "no write key configured",
			opts:    func(o *SegmentOptions) { o.WriteKey = "" },
			path:    "/v1/track",
			body:    `{"userId":"c1","event":"page_view"}`,
			status:  401,
			want:    []string{"HERALD_WRITE_KEY"},
			reasons: map[string]int{ReasonUnauthorized: 1},
		},
		{
			name:    "several sources and none named",
			opts:    func(o *SegmentOptions) { o.Sources = []*lang.Source{srcs["events"], srcs["clicks"]} },
			path:    "/v1/track",
			body:    `{"userId":"c1","event":"page_view"}`,
			status:  400,
			want:    []string{"?source=NAME", "clicks, events"},
			reasons: map[string]int{ReasonBadRequest: 1},
		},
		{
			name:    "unknown source",
			opts:    func(o *SegmentOptions) { o.Sources = []*lang.Source{srcs["events"], srcs["clicks"]} },
			path:    "/v1/track?source=orders",
			body:    `{"userId":"c1","event":"page_view"}`,
			status:  400,
			want:    []string{`unknown source \"orders\"`},
			reasons: map[string]int{ReasonBadRequest: 1},
		},
		{
			name:   "named source with its own fields",
			opts:   func(o *SegmentOptions) { o.Sources = []*lang.Source{srcs["events"], srcs["clicks"]} },
			path:   "/v1/track?source=source.clicks",
			body:   `{"userId":"u9","event":"click","messageId":"m9","timestamp":"2026-11-26","properties":{"n":2}}`,
			status: 200,
			check: func(t *testing.T, evs []Event, _ map[string]any) {
				ev := evs[0]
				if ev.Source != "source.clicks" || ev.ID != "m9" || ev.CustomerID != "u9" || ev.Type != "click" {
					t.Errorf("event = %+v", ev)
				}
				if u, _ := ev.Record.Field("user"); u != "u9" {
					t.Errorf("user = %v", u)
				}
				if n, _ := ev.Record.Field("n"); n != int64(2) {
					t.Errorf("n = %#v", n)
				}
			},
		},
		{
			name:    "sink refusing is 503",
			opts:    func(o *SegmentOptions) { o.Sink = func(context.Context, []Event) error { return errors.New("full") } },
			path:    "/v1/batch",
			body:    `{"batch":[{"type":"track","userId":"c1","event":"page_view"}]}`,
			status:  503,
			want:    []string{"retry later"},
			reasons: map[string]int{ReasonUnavailable: 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var sink sinkRecorder
			var rej rejects
			opts := SegmentOptions{
				Sources:  []*lang.Source{srcs["events"]},
				WriteKey: testKey,
				Sink:     sink.sink,
				OnReject: rej.on,
				Now:      func() time.Time { return testNow },
				Logger:   quiet(),
			}
			if c.opts != nil {
				c.opts(&opts)
			}
			srv := httptest.NewServer(NewSegmentHandler(opts))
			defer srv.Close()
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, srv.URL+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			if !c.noAuth {
				user := c.user
				if user == "" {
					user = testKey
				}
				req.SetBasicAuth(user, "")
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != c.status {
				t.Fatalf("status = %d, want %d; body %s", res.StatusCode, c.status, b)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type = %q", ct)
			}
			var resp map[string]any
			if err := json.Unmarshal(b, &resp); err != nil {
				t.Fatalf("body is not JSON: %s", b)
			}
			if c.status != 200 {
				if msg, _ := resp["error"].(string); msg == "" {
					t.Errorf("no error message in %s", b)
				}
			}
			for _, w := range c.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("body %s does not contain %s", b, w)
				}
			}
			want := c.reasons
			if want == nil {
				want = map[string]int{}
			}
			if got := rej.get(); !reflect.DeepEqual(got, want) {
				t.Errorf("rejections = %v, want %v", got, want)
			}
			if c.status != 200 && len(sink.events()) > 0 {
				t.Errorf("a refused request gave the sink %d events", len(sink.events()))
			}
			if c.check != nil {
				c.check(t, sink.events(), resp)
			}
		})
	}
}

func knownOnly(ids ...string) func(context.Context, string) (bool, error) {
	return func(_ context.Context, id string) (bool, error) {
		for _, k := range ids {
			if k == id {
				return true, nil
			}
		}
		return false, nil
	}
}

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// A message sent twice without a messageId gets the same ID, so that the
// trigger engine dedupes a sender's retry.
func TestSegmentDerivedIDIsStable(t *testing.T) {
	srcs := loadSources(t, "")
	es, err := newEventSchema(srcs["events"])
	if err != nil {
		t.Fatal(err)
	}
	d := segDecoder{es: es, maxEvent: DefaultMaxEventBytes}
	body := []byte(`{"userId":"c1","event":"page_view","timestamp":"2026-11-26T10:00:00Z"}`)
	a, rej := d.decode(body, false, testNow)
	b, _ := d.decode(body, false, testNow.Add(time.Hour))
	if rej != nil || a[0].ev.ID != b[0].ev.ID || a[0].ev.ID == "" {
		t.Fatalf("ids %q and %q (%v)", a[0].ev.ID, b[0].ev.ID, rej)
	}
	c, _ := d.decode([]byte(`{"userId":"c2","event":"page_view","timestamp":"2026-11-26T10:00:00Z"}`), false, testNow)
	if c[0].ev.ID == a[0].ev.ID {
		t.Fatal("two different messages have the same id")
	}
}
