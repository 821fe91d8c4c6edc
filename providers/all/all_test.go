package all_test

import (
	"reflect"
	"testing"

	"github.com/heraldhq/herald/providers"
	_ "github.com/heraldhq/herald/providers/all"
)

func TestRegistered(t *testing.T) {
	if got, want := providers.SourceTypes(), []string{"files", "postgres"}; !reflect.DeepEqual(got[:min(2, len(got))], want) {
		t.Fatalf("source types %v, want %v", got, want)
	}
}
