package diag

import "testing"

func TestSuggest(t *testing.T) {
	fields := []string{"id", "email", "first_name", "country", "timezone", "ltv", "last_purchase_at"}
	for _, tc := range []struct {
		given      string
		candidates []string
		want       string
	}{
		{"emial", fields, "email"},                             // transposition
		{"frist_name", fields, "first_name"},                   // transposition
		{"first_nam", fields, "first_name"},                    // deletion
		{"countrys", fields, "country"},                        // one edit
		{"LTV", fields, "ltv"},                                 // case is ignored
		{"timezon", fields, "timezone"},                        // one edit
		{"email", fields, "email"},                             // exact
		{"lifetime_value", fields, ""},                         // nothing close
		{"phone", fields, ""},                                  // nothing close
		{"ip", fields, "id"},                                   // one edit on a short name
		{"xy", fields, ""},                                     // all of a short name rewritten
		{"x", []string{"y"}, ""},                               // one letter is never corrected
		{"", fields, ""},                                       // nothing given
		{"email", nil, ""},                                     // no candidates
		{"segmnt", []string{"segments", "segment"}, "segment"}, // the closest, not the first
		{"abcd", []string{"abce", "abcf"}, "abce"},             // ties: the first
		{"last_purchase", fields, ""},                          // a prefix three edits short
		{"last_purchased_at", fields, "last_purchase_at"},      // insertion
		{"contry", []string{"country", "county"}, "country"},   // ties: the first
		{"tinezome", fields, "timezone"},                       // two substitutions
	} {
		if got := Suggest(tc.given, tc.candidates); got != tc.want {
			t.Errorf("Suggest(%q, %q) = %q, want %q", tc.given, tc.candidates, got, tc.want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	if got, want := DidYouMean("ltvv", []string{"id", "ltv"}), ` Did you mean "ltv"?`; got != want {
		t.Errorf("DidYouMean = %q, want %q", got, want)
	}
	if got := DidYouMean("nothing_like_it", []string{"id", "ltv"}); got != "" {
		t.Errorf("DidYouMean with no close candidate = %q, want empty", got)
	}
}
