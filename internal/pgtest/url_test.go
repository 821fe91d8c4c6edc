package pgtest

import "testing"

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:p@localhost:5432/postgres?sslmode=disable", "postgres://u:p@localhost:5432/x?sslmode=disable"},
		{"postgresql://u@/postgres?host=/tmp/s", "postgresql://u@/x?host=/tmp/s"},
		{"postgres://u@h/?dbname=postgres", "postgres://u@h/x?dbname=x"},
		{"host=/tmp user=postgres", "host=/tmp user=postgres dbname=x"},
	} {
		if got := withDatabase(tc.in, "x"); got != tc.want {
			t.Errorf("withDatabase(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
